"""Alertmanager's sample config: amtool accepts it, and the real Alertmanager delivers an alert to Telegram."""

from __future__ import annotations

import json
import queue
import subprocess
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from tests.conftest import StandInServer, serve_in_thread
from tests.observability.configs import OBSERVABILITY, PROJECT_ROOT, env_sample, free_ports

ALERTMANAGER_DIR = OBSERVABILITY / "alertmanager"
TOKEN, CHAT_ID = "424242:test-token", "-1009876543210"


def amtool_check(binary, config: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "alertmanager.yml"
    path.write_text(config)
    return subprocess.run([binary("amtool"), "check-config", str(path)], capture_output=True, text=True)


def test_sample_with_the_settings_of_env_sample_passes_amtool(observe, binary, tmp_path):
    config = observe.alertmanager_config(env_sample())
    checked = amtool_check(binary, config, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    telegram = yaml.safe_load(config)["receivers"][0]["telegram_configs"][0]
    assert (telegram["bot_token"], str(telegram["chat_id"])) == (env_sample()["TELEGRAM_BOT_TOKEN"],
                                                                env_sample()["TELEGRAM_CHAT_ID"])


def test_compose_fills_in_the_sample_as_the_native_setup_does(observe, binary, tmp_path):
    """The alertmanager container renders the sample with sed; run that very command here."""
    compose = yaml.safe_load((PROJECT_ROOT / "local" / "docker-compose.yaml").read_text())
    command = compose["services"]["alertmanager"]["command"][0].replace("$$", "$")  # compose's own escaping
    render = command.split(" && ")[0].replace("/etc/alertmanager/", f"{ALERTMANAGER_DIR}/")
    rendered = tmp_path / "rendered.yml"
    subprocess.run(["sh", "-c", render.replace("/tmp/alertmanager.yml", str(rendered))], check=True,
                   env={"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT_ID})

    assert rendered.read_text() == observe.alertmanager_config({"TELEGRAM_BOT_TOKEN": TOKEN,
                                                                "TELEGRAM_CHAT_ID": CHAT_ID})
    checked = subprocess.run([binary("amtool"), "check-config", str(rendered)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_without_telegram_settings_alerts_stay_in_alertmanager(observe, binary, tmp_path):
    config = observe.alertmanager_config({})
    checked = amtool_check(binary, config, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all("telegram_configs" not in receiver for receiver in yaml.safe_load(config)["receivers"])


class FakeTelegram(BaseHTTPRequestHandler):
    """Records each Bot API call and answers as Telegram does."""

    calls: queue.Queue

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        is_json = self.headers.get("content-type", "").startswith("application/json")
        params = json.loads(body) if is_json else {k: v[0] for k, v in parse_qs(body).items()}
        self.calls.put((self.path, params))
        answer = {"ok": True, "result": {"message_id": 1, "date": 0, "text": params.get("text", ""),
                                         "chat": {"id": int(params.get("chat_id", 0)), "type": "group"}}}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def fake_telegram():
    calls: queue.Queue = queue.Queue()
    server = StandInServer(("127.0.0.1", 0), type("Handler", (FakeTelegram,), {"calls": calls}))
    stop = serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    stop()


def test_fired_alert_reaches_telegram_as_send_message_with_its_summary(observe, fake_telegram, tmp_path):
    telegram_url, calls = fake_telegram
    config = yaml.safe_load(observe.alertmanager_config({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT_ID}))
    config["receivers"][0]["telegram_configs"][0]["api_url"] = telegram_url
    config["route"]["group_wait"] = "0s"  # the sample waits 30 s to batch alerts; a test need not
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    [port] = free_ports(1)
    service = observe.alertmanager(tmp_path / "alertmanager.yml", tmp_path / "data", port)

    with observe.running([service], tmp_path / "logs"):
        alert = {"labels": {"alertname": "EthsourceFunctionDown", "severity": "critical", "job": "ethsource",
                            "instance": "submit"},
                 "annotations": {"summary": "Function submit is down",
                                 "description": "Prometheus has not reached the /metrics of submit."}}
        posted = httpx.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=[alert])
        assert posted.status_code == 200, posted.text
        path, message = calls.get(timeout=20)

    assert path == f"/bot{TOKEN}/sendMessage"
    assert str(message["chat_id"]) == CHAT_ID
    assert message["parse_mode"] == "HTML"
    assert "FIRING" in message["text"] and "EthsourceFunctionDown" in message["text"]
    assert "<b>Function submit is down</b> [critical]" in message["text"]
    assert "Prometheus has not reached the /metrics of submit." in message["text"]
