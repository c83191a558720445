"""Secrets from where each platform keeps them, put into the environment before `Settings` read it.

Each reference below is optional; without any, the environment is used as it is.

Files (OpenFaaS mounts secrets under /var/openfaas/secrets/; Docker and Kubernetes can mount them too):
  DATABASE_URL_FILE, RABBITMQ_URL_FILE, ETHERSCAN_API_KEYS_FILE
      a file holding the whole value of DATABASE_URL, RABBITMQ_URL or ETHERSCAN_API_KEYS.

AWS (Lambda), read through Powertools Parameters:
  DATABASE_PASSWORD_SECRET_ARN
      a Secrets Manager secret with the database password: the bare password, or the JSON of an RDS-managed
      secret ({"username", "password", ...}). It goes into DATABASE_URL, which names host, port and database.
  RABBITMQ_PASSWORD_SECRET_ARN
      a Secrets Manager secret with the broker user's {"username", "password"}: the secret the Amazon MQ
      trigger uses for BASIC_AUTH serves here too. It goes into RABBITMQ_URL.
  ETHERSCAN_API_KEYS_PARAMETER
      the name of an SSM parameter (a SecureString) holding the comma-separated Etherscan API keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .errors import ConfigError

FILE_SETTINGS = ("DATABASE_URL", "RABBITMQ_URL", "ETHERSCAN_API_KEYS")
URL_PASSWORD_SECRETS = {"DATABASE_URL": "DATABASE_PASSWORD_SECRET_ARN", "RABBITMQ_URL": "RABBITMQ_PASSWORD_SECRET_ARN"}
ETHERSCAN_KEYS_PARAMETER = "ETHERSCAN_API_KEYS_PARAMETER"


def resolve_secrets(env: Mapping[str, str]) -> Mapping[str, str]:
    """`env` with every configured secret reference replaced by the value it points to."""
    resolved: dict[str, str] = {}
    for name in FILE_SETTINGS:
        if path := env.get(f"{name}_FILE"):
            resolved[name] = _read_file(f"{name}_FILE", path)
    for url_name, reference in URL_PASSWORD_SECRETS.items():
        if secret_arn := env.get(reference):
            url = resolved.get(url_name) or env.get(url_name)
            if not url:
                raise ConfigError(f"{reference} is set, so {url_name} must name the server (without a password)")
            username, password = _credentials(_aws_secret(reference, secret_arn))
            resolved[url_name] = with_credentials(url, username, password)
    if parameter := env.get(ETHERSCAN_KEYS_PARAMETER):
        resolved["ETHERSCAN_API_KEYS"] = _aws_parameter(ETHERSCAN_KEYS_PARAMETER, parameter)
    return {**env, **resolved} if resolved else env


def with_credentials(url: str, username: str | None, password: str) -> str:
    """The URL with the password (and the username, when given) put in, percent-encoded."""
    parts = urlsplit(url)
    user = username if username is not None else unquote(parts.username or "")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def _credentials(secret: str) -> tuple[str | None, str]:
    """(username or None, password): RDS and Amazon MQ secrets are JSON objects; anything else is the password."""
    try:
        document = json.loads(secret)
    except ValueError:
        return None, secret
    if isinstance(document, dict) and isinstance(document.get("password"), str):
        return document.get("username"), document["password"]
    return None, secret


def _read_file(reference: str, path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{reference}: cannot read {path} ({type(exc).__name__})") from None


def _aws_secret(reference: str, secret_arn: str) -> str:
    # Imported here: boto3 is in the Lambda runtime, not in the containers, which never need it.
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_arn)
    except (parameters.exceptions.GetParameterError, parameters.exceptions.GetSecretError) as exc:
        raise ConfigError(f"{reference}: cannot read secret {secret_arn} ({_cause(exc)})") from None
    return value.decode() if isinstance(value, bytes) else value


def _aws_parameter(reference: str, name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    try:
        return parameters.get_parameter(name, decrypt=True)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigError(f"{reference}: cannot read parameter {name} ({_cause(exc)})") from None


def _cause(exc: Exception) -> str:
    # Powertools wraps the AWS error; its class name (ResourceNotFoundException, AccessDenied…) says enough.
    cause = exc.__cause__ or exc.__context__ or exc
    return getattr(cause, "response", {}).get("Error", {}).get("Code") or type(cause).__name__
