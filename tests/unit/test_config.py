import pytest

from ethsource.config import ConfigError, Settings


def test_defaults_point_at_local_services():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("mysql://root@127.0.0.1:3306/")
    assert settings.rabbitmq_url.startswith("amqp://guest:guest@127.0.0.1:5672/")
    assert settings.etherscan_api_url == "https://api.etherscan.io/v2/api"
    assert settings.etherscan_api_keys == ()


def test_keys_are_split_and_trimmed():
    assert Settings.from_env({"ETHERSCAN_API_KEYS": " k1, k2 ,,k3"}).etherscan_api_keys == ("k1", "k2", "k3")


@pytest.mark.parametrize("name, value", [("DATABASE_URL", "postgres://x/y"), ("RABBITMQ_URL", "http://x"),
                                         ("ETHERSCAN_RATE_LIMIT", "fast"), ("ETHERSCAN_RATE_LIMIT", "0")])
def test_malformed_setting_is_named_in_the_error(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_secrets_stay_out_of_repr_but_are_known():
    settings = Settings.from_env({"DATABASE_URL": "mysql://app:s3cret-db@db:3306/x", "ETHERSCAN_API_KEYS": "KEY123",
                                  "RABBITMQ_URL": "amqp://u:s3cret-mq@mq:5672/%2F"})
    assert not any(secret in repr(settings) for secret in ("s3cret-db", "s3cret-mq", "KEY123"))
    assert set(settings.secrets) == {"s3cret-db", "s3cret-mq", "KEY123"}


def test_providers_default_to_etherscan_then_sourcify_then_blockscout():
    settings = Settings.from_env({})
    assert settings.source_providers == ("etherscan", "sourcify", "blockscout")
    assert settings.sourcify_api_url == "https://sourcify.dev/server"
    assert settings.blockscout_api_urls[1] == "https://eth.blockscout.com"
    assert all(url.startswith("https://") for url in settings.blockscout_api_urls.values())


def test_providers_are_taken_in_the_order_given():
    assert Settings.from_env({"SOURCE_PROVIDERS": " sourcify,etherscan "}).source_providers == ("sourcify", "etherscan")


@pytest.mark.parametrize("value, reason", [("etherscan,sourcefy", "unknown provider 'sourcefy'"),
                                           (",", "at least one"), ("sourcify,sourcify", "twice")])
def test_a_wrong_provider_list_says_what_is_wrong(value, reason):
    with pytest.raises(ConfigError, match=f"SOURCE_PROVIDERS: .*{reason}"):
        Settings.from_env({"SOURCE_PROVIDERS": value})


def test_blockscout_instances_are_read_by_chain():
    settings = Settings.from_env({"BLOCKSCOUT_API_URLS": "10=https://explorer.optimism.io/, 100 = http://x:4000"})
    assert settings.blockscout_api_urls == {10: "https://explorer.optimism.io", 100: "http://x:4000"}


@pytest.mark.parametrize("value", ["optimism=https://x", "0=https://x", "10=ftp://x", "10", ",", "10=https://x,"
                                   "mainnet=https://user:s3cret@x"])
def test_a_malformed_blockscout_map_is_refused_without_echoing_it(value):
    with pytest.raises(ConfigError, match="BLOCKSCOUT_API_URLS") as error:
        Settings.from_env({"BLOCKSCOUT_API_URLS": value})
    assert "s3cret" not in str(error.value) and "x," not in str(error.value)


@pytest.mark.parametrize("name", ["SOURCIFY_RATE_LIMIT", "BLOCKSCOUT_RATE_LIMIT"])
def test_provider_rate_limits_must_be_positive(name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "0"})


@pytest.mark.parametrize("sweep_after, scan_lease", [("60", "120"), ("120", "120")])
def test_a_sweep_after_not_longer_than_the_scan_lease_is_refused_naming_both(sweep_after, scan_lease):
    # Shorter, and a sweep would take rows from scans still running.
    with pytest.raises(ConfigError, match=rf"SWEEP_AFTER \({sweep_after} s\) must be longer than SCAN_LEASE "
                                          rf"\({scan_lease} s\)"):
        Settings.from_env({"SWEEP_AFTER": sweep_after, "SCAN_LEASE": scan_lease})
    assert Settings.from_env({"SWEEP_AFTER": "121", "SCAN_LEASE": scan_lease}).sweep_after_s == 121
