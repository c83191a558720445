"""Optional API keys: off by default; when set, a missing or wrong key gets 401 and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ethsource.serving import load
from ethsource_local.fake_etherscan import FakeConfig
from tests.scanning import fresh, scanner


def app_of(function: str):
    """The function's app as a process started with the settings of now builds it (API_KEYS is read at start)."""
    module = load(function)
    module.__spec__.loader.exec_module(module)
    return module.app


@pytest.fixture(autouse=True)
def handlers_rebuilt_afterwards():
    """Other tests load these handlers too: once the settings are back, so are apps built from them."""
    yield
    for function in ("submit", "status"):
        app_of(function)


def count(db, address: str) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts WHERE address = %s", (address,))
        return cursor.fetchone()[0]


def test_missing_or_wrong_key_gets_401_and_changes_nothing(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig(), API_KEYS="key-one,key-two") as scan:
        client = TestClient(app_of("submit"))
        for headers in ({}, {"X-API-Key": "key-three"}, {"X-API-Key": ""}):
            answer = client.post("/contracts", json={"address": address}, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "unauthorized"
        assert count(db, address) == 0
        assert set(scan.depth().values()) == {0}

        assert client.post("/contracts", json={"address": address}, headers={"X-API-Key": "key-two"}).status_code == 202
        assert client.get("/healthz").status_code == 200  # probes and scrapes need no key
        assert client.get("/metrics").status_code == 200
        status = TestClient(app_of("status"))
        assert status.get(f"/contracts/{address}").status_code == 401
        assert status.get(f"/contracts/{address}", headers={"X-API-Key": "key-one"}).status_code == 200
        scan.wait([address])


def test_without_keys_the_api_is_open(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig()) as scan:
        assert TestClient(app_of("submit")).post("/contracts", json={"address": address}).status_code == 202
        scan.wait([address])
