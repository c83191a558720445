"""Optional API keys: off by default; when set, a missing or wrong key gets 401 and changes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ethsource_local.fake_etherscan import FakeConfig
from ethsource_local.functions import load
from tests.scanning import fresh, scanner


def count(db, address: str) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM contracts WHERE address = %s", (address,))
        return cursor.fetchone()[0]


def test_missing_or_wrong_key_gets_401_and_changes_nothing(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig(), API_KEYS="key-one,key-two") as scan:
        client = TestClient(load("submit").app)
        for headers in ({}, {"X-API-Key": "key-three"}, {"X-API-Key": ""}):
            answer = client.post("/contracts", json={"address": address}, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "unauthorized"
        assert count(db, address) == 0
        assert set(scan.depth().values()) == {0}

        assert client.post("/contracts", json={"address": address}, headers={"X-API-Key": "key-two"}).status_code == 202
        assert client.get("/healthz").status_code == 200  # probes and scrapes need no key
        assert client.get("/metrics").status_code == 200
        status = TestClient(load("status").app)
        assert status.get(f"/contracts/{address}").status_code == 401
        assert status.get(f"/contracts/{address}", headers={"X-API-Key": "key-one"}).status_code == 200
        scan.wait([address])


def test_without_keys_the_api_is_open(service_env, db):
    [address] = fresh("solidity_single", 1)
    with scanner(service_env, db, FakeConfig()) as scan:
        assert TestClient(load("submit").app).post("/contracts", json={"address": address}).status_code == 202
        scan.wait([address])
