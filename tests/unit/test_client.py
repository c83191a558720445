"""The command-line client against a fake of the HTTP API (httpx.MockTransport) on a fake clock.

The fake service walks each contract through a timeline of statuses measured on the test's clock; the client's
sleeps advance that clock, and so do long-polls the service holds, so nothing here really waits.
"""

import argparse
import io
import json
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ethsource import client

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
THIRD = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
FOURTH = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
SECRET = "s3cret-api-key"
QUICK = (("CREATED", 1.0), ("PROCESS", 2.0), ("SUCCESS", None))
NOT_VERIFIED = {"code": "not_verified", "message": "the contract's source code is not verified on the explorer"}
TREE = {"Token.sol": "contract Token {}\n", "metadata.json": "{}\n", "abi.json": "[]\n",
        "implementation/Impl.sol": "contract Impl {}\n"}


def make_zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def error_answer(status: int, code: str, message: str, **headers) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


@dataclass
class Contract:
    address: str
    chain_id: int
    timeline: tuple
    name: str
    error: dict | None
    submitted_at: float | None = None

    def step(self, now: float) -> int:
        start = self.submitted_at
        for index, (_, duration) in enumerate(self.timeline):
            if duration is None or now < start + duration:
                return index
            start += duration
        return len(self.timeline) - 1

    def next_change(self, now: float) -> float | None:
        index = self.step(now)
        if self.timeline[index][1] is None:
            return None
        return self.submitted_at + sum(duration for _, duration in self.timeline[:index + 1])

    def resource(self, now: float) -> dict:
        status = self.timeline[self.step(now)][0]
        return {"address": self.address, "chain_id": self.chain_id, "status": status,
                "error": self.error if status == "ERROR" else None, "attempts": 1,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:03Z",
                "contract_name": self.name if status == "SUCCESS" else None,
                "compiler_version": "v0.8.20+commit.a1b79de6", "language": "Solidity", "proxy": False,
                "implementation": None, "provider": "etherscan" if status == "SUCCESS" else None}


class Service:
    """The HTTP API as the client sees it, with the test's clock (`clock`, `sleep`)."""

    def __init__(self, *, long_poll: bool = True, api_key: str | None = None):
        self.now = 0.0
        self.sleeps: list[float] = []
        self.long_poll = long_poll
        self.api_key = api_key
        self.contracts: dict[tuple[int, str], Contract] = {}
        self.refused: dict[str, tuple[str, str]] = {}  # address as sent -> (code, message)
        self.interrupts: list = []  # answers or exceptions given, in order, before any routing
        self.archive: bytes | None = None  # what every zip download sends instead of the contract's tree
        self.vyper = False  # the foundry format does not apply
        self.requests: list[httpx.Request] = []
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def add(self, address: str, chain_id: int = 1, timeline=QUICK, name: str = "Token", error=None) -> None:
        self.contracts[(chain_id, address.lower())] = Contract(address, chain_id, timeline, name, error)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            assert len(self.requests) < 5000, "the client is looping"  # fail a runaway test instead of hanging it
            if self.interrupts:
                answer = self.interrupts.pop(0)
                if isinstance(answer, Exception):
                    raise answer
                return answer
            if self.api_key and request.headers.get("X-API-Key") != self.api_key:
                return error_answer(401, "unauthorized", "a valid X-API-Key header is required")
            path = request.url.path
            parts = path[path.index("/contracts"):].strip("/").split("/")  # after any gateway prefix
            if request.method == "POST" and parts == ["contracts"]:
                return self._submit(json.loads(request.content))
            if request.method == "POST" and parts == ["contracts", "batch"]:
                items = json.loads(request.content)["contracts"]
                self.batch_sizes.append(len(items))
                return httpx.Response(200, json={"results": [self._batch_item(item) for item in items]})
            contract = self.contracts.get((int(request.url.params.get("chain_id", 1)), parts[1].lower()))
            if contract is None or contract.submitted_at is None:
                return error_answer(404, "not_found", f"no contract {parts[1]} on this chain")
            if len(parts) == 3:
                return self._source(contract, request.url.params["format"])
            return self._status(contract, request)

    def _submit(self, body: dict) -> httpx.Response:
        if body["address"] in self.refused:
            return error_answer(422, *self.refused[body["address"]])
        contract = self.contracts[(body["chain_id"], body["address"].lower())]
        if contract.submitted_at is None or body["refresh"]:
            contract.submitted_at = self.now
        return httpx.Response(202, json=contract.resource(self.now))

    def _batch_item(self, item: dict) -> dict:
        if item["address"] in self.refused:
            code, message = self.refused[item["address"]]
            return {"address": item["address"], "chain_id": item["chain_id"],
                    "error": {"code": code, "message": message}}
        return json.loads(self._submit(item).content) | {"queued": True}

    def _status(self, contract: Contract, request: httpx.Request) -> httpx.Response:
        etag = f'"{contract.step(self.now)}"'
        wait = request.url.params.get("wait")
        if self.long_poll and wait and request.headers.get("If-None-Match") == etag:
            change = contract.next_change(self.now)
            if change is not None and change - self.now <= int(wait):
                self.now = change
            else:
                self.now += int(wait)
                return httpx.Response(304)
        headers = {"ETag": f'"{contract.step(self.now)}"'} if self.long_poll else {}
        return httpx.Response(200, json=contract.resource(self.now), headers=headers)

    def _source(self, contract: Contract, fmt: str) -> httpx.Response:
        resource = contract.resource(self.now)
        if resource["status"] != "SUCCESS":
            return error_answer(409, "not_ready", "the contract has not been scanned yet")
        if fmt == "foundry" and self.vyper:
            return error_answer(422, "format_not_applicable", "forge cannot pin the Vyper compiler")
        if fmt == "json":
            return httpx.Response(200, json={"address": contract.address, "chain_id": contract.chain_id,
                                             "files": {"Token.sol": TREE["Token.sol"]}, "metadata": {}, "abi": [],
                                             "implementation": None})
        entries = TREE | ({"foundry.toml": "[profile.default]\n"} if fmt == "foundry" else {})
        filename = f"{contract.name}-{contract.chain_id}-{contract.address}.zip"
        return httpx.Response(200, content=self.archive or make_zip(entries),
                              headers={"Content-Type": "application/zip",
                                       "Content-Disposition": f'attachment; filename="{filename}"'})

    def calls(self, method: str, suffix: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(suffix)]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ethsource")
    client.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run(service: Service, *argv: str) -> int:
    return client.run(parse(*argv), transport=service.transport(), sleep=service.sleep, clock=service.clock)


@pytest.fixture
def service(monkeypatch, tmp_path) -> Service:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ETHSOURCE_URL", raising=False)
    monkeypatch.delenv("ETHSOURCE_API_KEY", raising=False)
    fake = Service()
    fake.add(ADDRESS)
    return fake


def files_under(directory: Path) -> dict[str, str]:
    return {path.relative_to(directory).as_posix(): path.read_text()
            for path in sorted(directory.rglob("*")) if path.is_file()}


# --- one contract, each format --------------------------------------------------------------------------


def test_get_writes_the_source_tree_with_the_implementation_beside_it(service, tmp_path, capsys):
    assert run(service, "get", ADDRESS) == 0
    assert files_under(tmp_path / f"Token-{ADDRESS}") == TREE
    assert f"Token-{ADDRESS}" in capsys.readouterr().out
    assert service.calls("GET", "/source")[0].url.params["format"] == "zip"


def test_get_zip_writes_the_zip_under_the_services_file_name(service, tmp_path):
    assert run(service, "get", ADDRESS, "--format", "zip", "-o", "out") == 0
    written = tmp_path / "out" / f"Token-1-{ADDRESS}.zip"
    with zipfile.ZipFile(written) as archive:
        assert sorted(archive.namelist()) == sorted(TREE)


def test_get_json_writes_the_json(service, tmp_path):
    assert run(service, "get", ADDRESS, "--format", "json", "-o", "out") == 0
    document = json.loads((tmp_path / "out" / f"Token-1-{ADDRESS}.json").read_text())
    assert document["files"] == {"Token.sol": TREE["Token.sol"]}
    assert service.calls("GET", "/source")[0].url.params["format"] == "json"


def test_get_foundry_asks_for_the_foundry_zip_and_extracts_it(service, tmp_path):
    assert run(service, "get", ADDRESS, "--format", "foundry", "-o", "project") == 0
    assert service.calls("GET", "/source")[0].url.params["format"] == "foundry"
    assert (tmp_path / "project" / "foundry.toml").read_text() == "[profile.default]\n"


def test_get_sends_the_chain_and_refresh(service):
    service.add(ADDRESS, chain_id=137)
    assert run(service, "get", ADDRESS, "--chain-id", "137", "--refresh") == 0
    assert json.loads(service.calls("POST")[0].content) == {"address": ADDRESS, "chain_id": 137, "refresh": True}
    assert all(r.url.params["chain_id"] == "137" for r in service.calls("GET"))


def test_get_json_prints_a_machine_readable_result(service, capsys):
    assert run(service, "get", ADDRESS, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"outcome": "success", "address": ADDRESS, "chain_id": 1,
                                                   "contract_name": "Token", "path": f"Token-{ADDRESS}"}


def test_the_explorers_contract_name_cannot_steer_the_directory(service, tmp_path):
    service.add(ADDRESS, name="../../etc/passwd")
    assert run(service, "get", ADDRESS) == 0
    [made] = [path for path in tmp_path.iterdir()]
    assert made.name == f"etc_passwd-{ADDRESS}"


# --- failures and exit codes ----------------------------------------------------------------------------------


def test_a_contract_in_error_exits_1_with_its_code_and_message(service, tmp_path, capsys):
    service.add(ADDRESS, timeline=(("CREATED", 1.0), ("ERROR", None)), error=NOT_VERIFIED)
    assert run(service, "get", ADDRESS) == 1
    err = capsys.readouterr().err
    assert err.strip().endswith(f"{NOT_VERIFIED['code']}: {NOT_VERIFIED['message']}")
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [] and not service.calls("GET", "/source")


@pytest.mark.parametrize("exception", [httpx.ConnectError("[Errno 111] Connection refused"),
                                       httpx.ConnectError("[Errno -2] Name or service not known"),
                                       httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out")])
def test_an_unreachable_service_exits_2_and_says_what_to_check(service, capsys, exception):
    service.interrupts.append(exception)
    assert run(service, "get", ADDRESS, "--url", "http://ethsource.invalid:9") == 2
    err = capsys.readouterr().err
    assert "http://ethsource.invalid:9" in err and "ETHSOURCE_URL" in err and "running" in err


def test_a_refused_address_exits_64_with_the_apis_message(service, capsys):
    service.refused["0x123"] = ("malformed_address", "address must be 0x followed by 40 hexadecimal characters")
    assert run(service, "get", "0x123") == 64
    assert "malformed_address: address must be 0x followed by 40 hexadecimal characters" in capsys.readouterr().err


def test_an_unsupported_chain_exits_64(service, capsys):
    service.refused[ADDRESS] = ("unsupported_chain", "chain_id 999 is not supported")
    assert run(service, "get", ADDRESS, "--chain-id", "999", "--json") == 64
    assert json.loads(capsys.readouterr().out) == {"outcome": "refused",
                                                   "error": "unsupported_chain: chain_id 999 is not supported"}


def test_a_format_that_does_not_apply_exits_64(service, tmp_path, capsys):
    service.vyper = True
    assert run(service, "get", ADDRESS, "--format", "foundry") == 64
    assert "format_not_applicable: forge cannot pin the Vyper compiler" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_api_key_is_named_and_exits_77(service, capsys):
    service.api_key = SECRET
    assert run(service, "get", ADDRESS) == 77
    err = capsys.readouterr().err
    assert "needs an API key" in err and "--api-key" in err and "ETHSOURCE_API_KEY" in err


def test_a_wrong_api_key_is_named_and_never_printed(service, capsys):
    service.api_key = "the-right-one"
    assert run(service, "get", ADDRESS, "--api-key", SECRET) == 77
    assert run(service, "get", ADDRESS, "--api-key", SECRET, "--json") == 77
    out, err = capsys.readouterr()
    assert "refused the API key" in err
    assert SECRET not in out + err


def test_the_api_key_goes_in_x_api_key(service):
    service.api_key = SECRET
    assert run(service, "get", ADDRESS, "--api-key", SECRET) == 0
    assert all(r.headers["X-API-Key"] == SECRET for r in service.requests)


def test_url_and_api_key_come_from_the_environment(service, monkeypatch):
    service.api_key = SECRET
    monkeypatch.setenv("ETHSOURCE_URL", "http://api.example:9000/prefix")
    monkeypatch.setenv("ETHSOURCE_API_KEY", SECRET)
    assert run(service, "get", ADDRESS) == 0
    assert all(str(r.url).startswith("http://api.example:9000/prefix/contracts") for r in service.requests)


def test_the_default_url_is_the_local_gateway(service):
    assert run(service, "status", ADDRESS) == 1  # never submitted: unknown
    assert str(service.requests[0].url).startswith("http://127.0.0.1:8080/contracts/")


@pytest.mark.parametrize("argv", [("get",), ("get", ADDRESS, "--file", "list.txt"), ("get", ADDRESS, "--timeout", "0")])
def test_a_bad_command_line_exits_64_without_a_request(service, argv):
    assert run(service, *argv) == 64
    assert service.requests == []


# --- waiting ------------------------------------------------------------------------------------------------


def test_long_poll_loops_on_304_without_sleeping(service):
    service.add(ADDRESS, timeline=(("CREATED", 1.0), ("PROCESS", 60.0), ("SUCCESS", None)))
    assert run(service, "get", ADDRESS) == 0
    polls = service.calls("GET", ADDRESS)
    assert service.sleeps == []
    assert "If-None-Match" not in polls[0].headers
    assert [r.headers.get("If-None-Match") for r in polls[1:]] == ['"0"', '"1"', '"1"', '"1"']
    assert all(r.url.params["wait"] == "25" for r in polls)
    assert service.now == 61.0  # answered when the scan finished, not a poll interval later


def test_a_server_that_ignores_wait_is_polled_with_doubling_backoff(service):
    service.long_poll = False
    service.add(ADDRESS, timeline=(("CREATED", 1.0), ("PROCESS", 60.0), ("SUCCESS", None)))
    assert run(service, "get", ADDRESS) == 0
    assert service.sleeps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert max(service.sleeps) == 10.0
    assert 61.0 <= service.now <= 71.0


def test_a_server_answering_304_at_once_is_not_hammered(service):
    service.add(ADDRESS, timeline=(("CREATED", 1.0), ("PROCESS", 30.0), ("SUCCESS", None)))
    original = service._status

    def conditional_get_without_wait(contract, request):
        if request.headers.get("If-None-Match") == f'"{contract.step(service.now)}"':
            service.now += 0.1  # unchanged, answered at once
            return httpx.Response(304)
        return original(contract, request)

    service._status = conditional_get_without_wait
    assert run(service, "get", ADDRESS, "--timeout", "120") == 0
    assert service.sleeps[:3] == [0.5, 1.0, 2.0]
    assert len(service.calls("GET", ADDRESS)) < 15


def test_retry_after_is_waited_out_on_503_and_429(service):
    service.interrupts += [error_answer(503, "overloaded", "too many requests in hand", **{"Retry-After": "3"}),
                           error_answer(429, "rate_limited", "slow down", **{"Retry-After": "2"})]
    assert run(service, "get", ADDRESS) == 0
    assert service.sleeps == [3.0, 2.0]
    assert len(service.calls("POST")) == 3


def test_a_service_that_stays_unavailable_exits_2_after_a_few_tries(service, capsys):
    service.interrupts += [error_answer(503, "unavailable", "the broker is down", **{"Retry-After": "1"})] * 20
    assert run(service, "get", ADDRESS) == 2
    assert len(service.calls("POST")) == client.RETRIES + 1
    assert "unavailable: the broker is down" in capsys.readouterr().err


def test_a_retry_after_that_is_not_a_number_waits_a_default(service):
    service.interrupts.append(error_answer(503, "overloaded", "busy", **{"Retry-After": "soon"}))
    assert run(service, "get", ADDRESS) == 0
    assert service.sleeps == [client.RETRY_AFTER_DEFAULT_S]


def test_still_processing_at_the_timeout_exits_2(service, capsys):
    service.add(ADDRESS, timeline=(("CREATED", 1.0), ("PROCESS", 10_000.0), ("SUCCESS", None)))
    assert run(service, "get", ADDRESS, "--timeout", "60") == 2
    assert "still PROCESS after --timeout" in capsys.readouterr().err
    assert 60.0 <= service.now <= 61.0


# --- safe extraction --------------------------------------------------------------------------------------------


def test_a_hostile_zip_writes_nothing_outside_the_directory(service, tmp_path, capsys):
    service.archive = make_zip({"../escaped.txt": "x", "/absolute.txt": "x", "a/../../up.txt": "x",
                                "C:\\drive.txt": "x", "..\\back.txt": "x", "ok/Token.sol": "contract Token {}\n"})
    assert run(service, "get", ADDRESS, "-o", "out/inner") == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "out/inner/ok/Token.sol"]
    assert capsys.readouterr().err.count("skipped the unsafe zip entry") == 5


def test_extraction_does_not_follow_a_symlink_out_of_the_directory(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(outside)
    written = client.extract(make_zip({"link/evil.sol": "x", "good.sol": "y"}), tmp_path / "out")
    assert written == [(tmp_path / "out" / "good.sol").resolve()]
    assert list(outside.iterdir()) == []


# --- status ---------------------------------------------------------------------------------------------------


def test_status_prints_the_resource_as_lines(service, capsys):
    service.add(ADDRESS, timeline=(("ERROR", None),), error=NOT_VERIFIED)
    assert run(service, "get", ADDRESS) == 1
    capsys.readouterr()
    assert run(service, "status", ADDRESS) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"address           {ADDRESS}" in lines
    assert "status            ERROR" in lines
    assert f"error             not_verified: {NOT_VERIFIED['message']}" in lines
    assert "proxy             false" in lines
    assert not any(line.startswith("contract_name") for line in lines)  # null fields are left out


def test_text_from_the_service_is_printed_on_one_line_without_control_characters(service, capsys):
    service.add(ADDRESS, timeline=(("ERROR", None),), error={"code": "not_verified", "message": "a\nb\x1b[31mc"})
    assert run(service, "get", ADDRESS) == 1
    assert capsys.readouterr().err == "ethsource: not_verified: a b [31mc\n"


def test_status_json_prints_the_resource_as_is(service, capsys):
    assert run(service, "get", ADDRESS) == 0
    capsys.readouterr()
    assert run(service, "status", ADDRESS, "--json") == 0
    assert json.loads(capsys.readouterr().out) == service.contracts[(1, ADDRESS.lower())].resource(service.now)


def test_status_of_an_unknown_contract_exits_1(service, capsys):
    assert run(service, "status", OTHER, "--chain-id", "10") == 1
    assert "not_found" in capsys.readouterr().err
    assert service.requests[0].url.params["chain_id"] == "10"


# --- many contracts --------------------------------------------------------------------------------------------


def test_parse_lines_takes_chain_prefixes_and_skips_comments_blanks_and_repeats():
    lines = ["# contracts to fetch", "", f"  {ADDRESS}  ", f"137:{OTHER}  # on Polygon", f"1:{ADDRESS.lower()}",
             "polygon:0xabc", "a:b:c", f"10:{THIRD}"]
    items = client.parse_lines(lines, default_chain=1)
    assert [(item.chain_id, item.address, item.outcome) for item in items] == [
        (1, ADDRESS, ""), (137, OTHER, ""), (None, "polygon:0xabc", "refused"), (None, "a:b:c", "refused"),
        (10, THIRD, "")]
    assert items[2].message.startswith("line 6:")


def test_default_chain_applies_to_lines_without_one():
    assert [item.chain_id for item in client.parse_lines([ADDRESS, f"5:{OTHER}"], default_chain=137)] == [137, 5]


def write_list(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_batch_downloads_each_contract_into_its_own_directory(service, tmp_path, capsys):
    service.add(OTHER, chain_id=137, name="Vault")
    listing = write_list(tmp_path / "list.txt", "# two contracts", ADDRESS, "", f"137:{OTHER}")
    assert run(service, "get", "--file", listing, "-o", "out") == 0
    assert files_under(tmp_path / "out" / f"Token-1-{ADDRESS}") == TREE
    assert files_under(tmp_path / "out" / f"Vault-137-{OTHER}") == TREE
    [batch] = service.calls("POST", "/batch")
    assert json.loads(batch.content)["contracts"] == [{"address": ADDRESS, "chain_id": 1, "refresh": False},
                                                      {"address": OTHER, "chain_id": 137, "refresh": False}]
    assert not service.calls("POST", "/contracts")  # no one-by-one submissions
    out = capsys.readouterr().out
    assert "success      2" in out and "failed:" not in out
    assert not list((tmp_path / "out").glob(".partial-*"))


def test_batch_reports_every_outcome_with_its_reason(service, tmp_path, capsys):
    service.add(OTHER, timeline=(("CREATED", 1.0), ("ERROR", None)), error=NOT_VERIFIED)
    service.refused[THIRD.lower()] = ("bad_checksum", "address fails its EIP-55 checksum")
    listing = write_list(tmp_path / "list.txt", ADDRESS, OTHER, THIRD.lower(), "x:y")
    assert run(service, "get", "--file", listing, "-o", "out") == 1
    out = capsys.readouterr().out
    for row in ("success      1", "error        1", "refused      2", "unreachable  0", "timeout      0"):
        assert row in out
    assert f"1:{OTHER}" in out and f"not_verified: {NOT_VERIFIED['message']}" in out
    assert f"1:{THIRD.lower()}" in out and "bad_checksum: address fails its EIP-55 checksum" in out
    assert "line 4: 'x:y' is neither ADDRESS nor CHAIN:ADDRESS" in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"Token-1-{ADDRESS}"]


def test_batch_json_summary(service, tmp_path, capsys):
    service.refused[OTHER] = ("malformed_address", "bad")
    listing = write_list(tmp_path / "list.txt", ADDRESS, OTHER)
    assert run(service, "get", "--file", listing, "-o", "out", "--json") == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["success"] == 1 and summary["counts"]["refused"] == 1
    assert summary["results"] == [
        {"chain_id": 1, "address": ADDRESS, "outcome": "success", "path": f"out/Token-1-{ADDRESS}", "error": None},
        {"chain_id": 1, "address": OTHER, "outcome": "refused", "path": None, "error": "malformed_address: bad"}]


def test_batch_resumes_skipping_finished_directories_without_a_request(service, tmp_path, capsys):
    service.add(OTHER)
    (tmp_path / "out" / f"Token-1-{ADDRESS}").mkdir(parents=True)
    listing = write_list(tmp_path / "list.txt", ADDRESS.lower(), OTHER)
    assert run(service, "get", "--file", listing, "-o", "out") == 0
    assert all(ADDRESS.lower() not in str(r.url).lower() + r.content.decode().lower() for r in service.requests)
    assert "skipped      1" in capsys.readouterr().out
    service.requests.clear()
    assert run(service, "get", "--file", listing, "-o", "out") == 0
    assert service.requests == []  # everything on disk: not one request


def test_a_download_that_failed_halfway_is_fetched_again(service, tmp_path):
    service.archive = make_zip({"Token.sol": "x", "Token.sol/inner.sol": "y"})  # the second file cannot be written
    listing = write_list(tmp_path / "list.txt", ADDRESS)
    assert run(service, "get", "--file", listing, "-o", "out") == 1
    assert list((tmp_path / "out").iterdir()) == []  # neither a finished-looking nor a leftover directory
    service.archive = None
    assert run(service, "get", "--file", listing, "-o", "out") == 0
    assert files_under(tmp_path / "out" / f"Token-1-{ADDRESS}") == TREE


def test_batch_reads_stdin(service, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADDRESS}\n"))
    assert run(service, "get", "--file", "-", "-o", "out") == 0
    assert (tmp_path / "out" / f"Token-1-{ADDRESS}" / "Token.sol").exists()


def test_batch_submits_in_chunks_of_at_most_1000(service, tmp_path):
    addresses = [f"0x{n:040x}" for n in range(2500)]
    for address in addresses:
        service.refused[address] = ("unsupported_chain", "no")
    assert run(service, "get", "--file", write_list(tmp_path / "list.txt", *addresses)) == 1
    assert service.batch_sizes == [1000, 1000, 500]


def test_batch_against_an_unreachable_service_exits_2_for_every_contract(service, tmp_path, capsys):
    service.interrupts.append(httpx.ConnectError("[Errno 111] Connection refused"))
    assert run(service, "get", "--file", write_list(tmp_path / "list.txt", ADDRESS, OTHER), "--json") == 2
    assert [r["outcome"] for r in json.loads(capsys.readouterr().out)["results"]] == ["unreachable"] * 2


def test_batch_without_the_api_key_stops_at_once(service, tmp_path, capsys):
    service.api_key = SECRET
    addresses = [f"0x{n:040x}" for n in range(1500)]
    assert run(service, "get", "--file", write_list(tmp_path / "list.txt", *addresses)) == 77
    assert len(service.requests) == 1
    assert "needs an API key" in capsys.readouterr().err


def test_an_unreadable_file_exits_64(service, capsys):
    assert run(service, "get", "--file", "missing.txt") == 64
    assert "cannot read missing.txt" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [Terminal, io.StringIO])
def test_progress_is_one_rewritten_line_only_on_a_terminal(service, tmp_path, monkeypatch, stream):
    service.add(OTHER)
    monkeypatch.setattr("sys.stderr", stderr := stream())
    assert run(service, "get", "--file", write_list(tmp_path / "list.txt", ADDRESS, OTHER), "-o", "out") == 0
    if stream is Terminal:
        assert stderr.getvalue().startswith("\r0/2 settled")
        assert stderr.getvalue().endswith("\r2/2 settled: 2 downloaded, 0 failed\n")
        assert stderr.getvalue().count("\n") == 1
    else:
        assert stderr.getvalue() == ""
