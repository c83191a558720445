"""Secrets from Secrets Manager / SSM (moto) and from files are put into the settings before they are built."""

from __future__ import annotations

import json
import os

import boto3
import pika
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from ethsource import config
from ethsource.config import ConfigError, Settings
from ethsource.db import connect_args
from ethsource.secrets import resolve_secrets

# A password that needs percent-encoding in a URL, so the tests also prove it survives the round trip.
PASSWORD = "p@ss:/w?rd#%"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # Powertools keeps its clients and values between calls
    with mock_aws():
        yield
    parameters.clear_caches()


def create_secret(name: str, value: str) -> str:
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]


def settings_from(env: dict[str, str]) -> Settings:
    return Settings.from_env(resolve_secrets(env))


def test_without_references_the_environment_is_used_as_it_is():
    env = {"DATABASE_URL": "mysql://root@db:3306/ethsource"}
    assert resolve_secrets(env) is env


def test_database_password_from_an_rds_secret_goes_into_database_url(aws):
    arn = create_secret("ethsource/db", json.dumps({"username": "app", "password": PASSWORD, "engine": "mysql",
                                                    "host": "ignored.example", "port": 3306}))
    settings = settings_from({"DATABASE_URL": "mysql://ethsource@db.example:3306/ethsource",
                              "DATABASE_PASSWORD_SECRET_ARN": arn})
    args = connect_args(settings.database_url)
    assert (args["user"], args["password"], args["host"], args["database"]) == ("app", PASSWORD, "db.example",
                                                                                "ethsource")


def test_a_bare_password_secret_keeps_the_user_of_the_url(aws):
    arn = create_secret("ethsource/db-password", PASSWORD)
    settings = settings_from({"DATABASE_URL": "mysql://ethsource@db.example:3306/ethsource",
                              "DATABASE_PASSWORD_SECRET_ARN": arn})
    args = connect_args(settings.database_url)
    assert (args["user"], args["password"]) == ("ethsource", PASSWORD)


def test_broker_credentials_from_the_amazon_mq_basic_auth_secret_go_into_rabbitmq_url(aws):
    arn = create_secret("ethsource/mq", json.dumps({"username": "scanner", "password": PASSWORD}))
    settings = settings_from({"RABBITMQ_URL": "amqps://b-1234.mq.eu-west-1.amazonaws.com:5671/%2F",
                              "RABBITMQ_PASSWORD_SECRET_ARN": arn})
    params = pika.URLParameters(settings.rabbitmq_url)
    assert (params.credentials.username, params.credentials.password) == ("scanner", PASSWORD)
    assert (params.host, params.port, params.virtual_host) == ("b-1234.mq.eu-west-1.amazonaws.com", 5671, "/")


def test_etherscan_keys_from_an_ssm_securestring(aws):
    boto3.client("ssm").put_parameter(Name="/ethsource/etherscan-keys", Value="KEY1, KEY2", Type="SecureString")
    settings = settings_from({"ETHERSCAN_API_KEYS_PARAMETER": "/ethsource/etherscan-keys"})
    assert settings.etherscan_api_keys == ("KEY1", "KEY2")


def test_get_settings_resolves_the_references_before_building_the_settings(aws, monkeypatch):
    boto3.client("ssm").put_parameter(Name="/ethsource/keys", Value="FROM-SSM", Type="SecureString")
    monkeypatch.setenv("ETHERSCAN_API_KEYS_PARAMETER", "/ethsource/keys")
    config.get_settings.cache_clear()
    try:
        assert config.get_settings().etherscan_api_keys == ("FROM-SSM",)
    finally:
        monkeypatch.delenv("ETHERSCAN_API_KEYS_PARAMETER")
        config.get_settings.cache_clear()


def test_an_unreadable_secret_is_a_config_error_naming_the_reference(aws):
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ethsource/nothing-AbCdEf"
    with pytest.raises(ConfigError, match="DATABASE_PASSWORD_SECRET_ARN: cannot read secret .*ResourceNotFound"):
        resolve_secrets({"DATABASE_URL": "mysql://app@db:3306/ethsource", "DATABASE_PASSWORD_SECRET_ARN": missing})
    with pytest.raises(ConfigError, match="ETHERSCAN_API_KEYS_PARAMETER: cannot read parameter /nothing"):
        resolve_secrets({"ETHERSCAN_API_KEYS_PARAMETER": "/nothing"})


def test_a_password_secret_without_its_url_is_a_config_error(aws):
    arn = create_secret("ethsource/mq-alone", PASSWORD)
    with pytest.raises(ConfigError, match="RABBITMQ_URL must name the server") as raised:
        resolve_secrets({"RABBITMQ_PASSWORD_SECRET_ARN": arn})
    assert PASSWORD not in str(raised.value)


def test_file_references_are_read_as_the_whole_value(tmp_path):
    files = {"DATABASE_URL": f"mysql://app:{PASSWORD}@db:3306/ethsource",
             "RABBITMQ_URL": "amqp://scanner:secret@mq:5672/%2F", "ETHERSCAN_API_KEYS": "K1,K2"}
    env = {}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")  # secret files often end in a newline
        env[f"{name}_FILE"] = str(tmp_path / name)
    settings = settings_from(env)
    assert (settings.database_url, settings.rabbitmq_url) == (files["DATABASE_URL"], files["RABBITMQ_URL"])
    assert settings.etherscan_api_keys == ("K1", "K2")


def test_a_missing_secret_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL_FILE: cannot read"):
        resolve_secrets({"DATABASE_URL_FILE": str(tmp_path / "absent")})


def test_resolved_secrets_stay_out_of_the_settings_repr(aws):
    arn = create_secret("ethsource/db-repr", PASSWORD)
    settings = settings_from({"DATABASE_URL": "mysql://app@db:3306/ethsource", "DATABASE_PASSWORD_SECRET_ARN": arn})
    assert PASSWORD not in repr(settings)
    assert "DATABASE_PASSWORD_SECRET_ARN" not in os.environ  # the tests leave the process environment alone
