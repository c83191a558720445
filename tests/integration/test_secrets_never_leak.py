"""A whole flow with known secret values: none of them appears in a log line, an answer, a metric or a span."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from ethsource.serving import FUNCTIONS
from ethsource_local.fake_etherscan import FakeConfig, address_with_shape, explorer_urls, running
from tests.conftest import running_system

DB_USER, MQ_USER = f"es_secret_{uuid.uuid4().hex[:6]}", f"es_secret_{uuid.uuid4().hex[:6]}"
DB_PASSWORD, MQ_PASSWORD = f"dbpw-{uuid.uuid4().hex}", f"mqpw-{uuid.uuid4().hex}"
ETHERSCAN_KEY, API_KEY = f"eskey-{uuid.uuid4().hex}", f"apikey-{uuid.uuid4().hex}"
SECRETS = (DB_PASSWORD, MQ_PASSWORD, ETHERSCAN_KEY, API_KEY)


@pytest.fixture
def users_with_passwords(db, service_env):
    """A MariaDB user and a RabbitMQ user of their own, so the URLs carry real passwords."""
    database = service_env["DATABASE_URL"].rsplit("/", 1)[1]
    with db.cursor() as cursor:
        cursor.execute(f"CREATE USER '{DB_USER}'@'%%' IDENTIFIED BY %s", (DB_PASSWORD,))
        cursor.execute(f"GRANT ALL ON `{database}`.* TO '{DB_USER}'@'%'")
    subprocess.run(["rabbitmqctl", "-q", "add_user", MQ_USER, MQ_PASSWORD], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", "/", MQ_USER, ".*", ".*", ".*"], check=True,
                   capture_output=True)
    yield {"DATABASE_URL": f"mysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:3306/{database}",
           "RABBITMQ_URL": f"amqp://{MQ_USER}:{MQ_PASSWORD}@127.0.0.1:5672/%2F"}
    with db.cursor() as cursor:
        cursor.execute(f"DROP USER '{DB_USER}'@'%'")
    subprocess.run(["rabbitmqctl", "-q", "delete_user", MQ_USER], check=True, capture_output=True)


def test_no_secret_reaches_logs_answers_metrics_or_spans(service_env, users_with_passwords, otlp_receiver,
                                                         tmp_path):
    seen: list[str] = []
    with running(FakeConfig(api_keys=(ETHERSCAN_KEY,))) as fake_url:
        env = {**service_env, **users_with_passwords, **explorer_urls(fake_url),
               "ETHERSCAN_API_KEYS": ETHERSCAN_KEY, "API_KEYS": API_KEY, "LOG_LEVEL": "DEBUG",
               "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with running_system(env, tmp_path / "run.log") as system:
            http = system.http
            http.headers["X-API-Key"] = API_KEY
            addresses = [address_with_shape(shape, 11) for shape in
                         ("solidity_single", "proxy", "unverified", "invalid_address", "etherscan_error")]
            answers = [http.post("/contracts", json={"address": a}) for a in addresses]
            answers += [httpx.post(f"{system.base_url}/contracts", json={"address": addresses[0]}),  # no key: 401
                        http.post("/contracts", content=b"{oops"), http.get("/contracts/0x12")]
            for address in addresses:
                assert system.wait_terminal(address)["status"] in ("SUCCESS", "ERROR")
                answers += [http.get(f"/contracts/{address}"), http.get(f"/contracts/{address}/source"),
                            http.get(f"/contracts/{address}/source", params={"format": "json"})]
            answers += [http.get(f"/functions/{name}/{path}") for name in FUNCTIONS for path in ("metrics", "healthz")]
            seen += [f"{a.status_code} {a.headers} {a.text if 'zip' not in a.headers.get('content-type', '') else ''}"
                     for a in answers]
        seen.append((tmp_path / "run.log").read_text())
    seen += [repr(span) for span in otlp_receiver.spans]
    assert any("scan succeeded" in text for text in seen)  # the logs were captured
    assert any(401 == int(text[:3]) for text in seen[:-1] if text[:3].isdigit())
    for secret in SECRETS:
        leaks = [text[:300] for text in seen if secret in text]
        assert not leaks, f"a secret leaked: {leaks}"
