"""The `ethsource` command-line client end to end: the real command against the system `ethsource run` started
(gateway, functions, MariaDB, RabbitMQ, the fake explorers), as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from ethsource.sources import safe_path
from ethsource_local.fake_etherscan import expected_files, implementation_of
from tests.scanning import fresh


def ethsource(system, *args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The console script's `main`, in a process of its own, reaching the system through ETHSOURCE_URL."""
    return subprocess.run([sys.executable, "-m", "ethsource.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "ETHSOURCE_URL": system.base_url}, timeout=120)


def files_under(directory: Path) -> dict[str, bytes]:
    return {path.relative_to(directory).as_posix(): path.read_bytes()
            for path in directory.rglob("*") if path.is_file()}


def test_get_writes_the_source_tree_into_a_directory_named_for_the_contract(system, tmp_path):
    (address,) = fresh("solidity_multi", 1)
    done = ethsource(system, "get", address.lower(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (written,) = tmp_path.iterdir()
    assert written.name.endswith(f"-{address}")
    expected = {safe_path(path): text.encode() for path, text in expected_files(1, address).items()}
    files = files_under(written)
    assert {name: files[name] for name in expected} == expected
    assert {"metadata.json", "abi.json"} <= files.keys()


def test_get_writes_a_proxys_implementation_beside_it(system, tmp_path):
    (address,) = fresh("proxy", 1)
    done = ethsource(system, "get", address, "-o", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == str(tmp_path / "out")
    implementation = expected_files(1, implementation_of(address))
    files = files_under(tmp_path / "out" / "implementation")
    assert {safe_path(path): text.encode() for path, text in implementation.items()}.items() <= files.items()


def test_get_foundry_writes_a_project_and_vyper_is_refused_with_the_reason(system, tmp_path):
    solidity, vyper = fresh("solidity_standard_json", 1) + fresh("vyper_single", 1)
    done = ethsource(system, "get", solidity, "--format", "foundry", "-o", str(tmp_path / "solidity"))
    assert done.returncode == 0, done.stderr
    profile = tomllib.loads((tmp_path / "solidity" / "foundry.toml").read_text())["profile"]["default"]
    assert profile["src"] == "." and profile["solc_version"]
    refused = ethsource(system, "get", vyper, "--format", "foundry", "-o", str(tmp_path / "vyper"))
    assert refused.returncode == 64
    assert "format_not_applicable" in refused.stderr
    assert not (tmp_path / "vyper").exists()


def test_a_contract_that_fails_exits_1_with_its_reason_on_one_line(system, tmp_path):
    (address,) = fresh("unverified", 1)
    done = ethsource(system, "get", address, "-o", str(tmp_path / "out"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not_verified" in done.stderr
    status = ethsource(system, "status", address, "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["error"]["code"] == "not_verified"


def test_a_file_of_addresses_with_one_bad_line_then_a_second_run_resumes(system, tmp_path):
    good = fresh("solidity_single", 2) + fresh("solidity_standard_json", 1)
    failing = fresh("unverified", 1)
    lines = [good[0], f"1:{good[1].lower()}", "# a comment", "", "0x1234", good[2], *failing]
    out = tmp_path / "out"

    first = ethsource(system, "get", "--file", "-", "-o", str(out), "--json", stdin="\n".join(lines) + "\n")
    assert first.returncode == 1, first.stderr  # a failed and a refused item; the rest downloaded
    summary = json.loads(first.stdout)
    assert {k: v for k, v in summary["counts"].items() if v} == {"success": 3, "error": 1, "refused": 1}
    outcomes = {item["address"].lower(): item for item in summary["results"]}
    assert outcomes["0x1234"]["error"].startswith("malformed_address")
    assert outcomes[failing[0].lower()]["error"].startswith("not_verified")
    finished = sorted(entry.name for entry in out.iterdir())
    assert sorted(name.rsplit("-", 1)[1] for name in finished) == sorted(good)

    second = ethsource(system, "get", "--file", "-", "-o", str(out), "--json", stdin="\n".join(lines) + "\n")
    resumed = json.loads(second.stdout)
    assert {k: v for k, v in resumed["counts"].items() if v} == {"skipped": 3, "error": 1, "refused": 1}
    assert sorted(entry.name for entry in out.iterdir()) == finished

    table = ethsource(system, "get", "--file", "-", "-o", str(out), stdin="\n".join(lines) + "\n")
    assert "skipped      3" in table.stdout and "failed:" in table.stdout and "0x1234" in table.stdout
