"""The users' command-line client: `ethsource get` (submit, wait, download, write) and `ethsource status`.

Exit codes, the same for every command:
  0   done: every contract downloaded (or, in a batch, already on disk)
  1   a contract failed: its scan ended in ERROR, or it is unknown (`status`, a 404)
  2   the service could not be used: unreachable (connection refused, DNS, timeout), still overloaded (503/429)
      after a few tries, a 5xx or an answer this client cannot read, or still not settled when --timeout ran out
      (running the same command again resumes)
  64  the input was refused (EX_USAGE): a malformed address, a bad checksum, an unsupported chain, a format that
      does not apply to the contract, an unreadable --file, ADDRESS and --file both or neither
  77  the API key is missing or wrong (EX_NOPERM)
A batch (`get --file`) exits 2 if any contract ended with a 2, else 1 if any failed or was refused, else 0.

A batch writes each contract into DIR/<ContractName>-<chain>-<address>/, first under a hidden temporary name that
is renamed once everything is written: a directory with that name is a finished download, and a second run skips
it without asking the service.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
FORMATS = ("files", "zip", "json", "foundry")
TERMINAL = frozenset({"SUCCESS", "ERROR"})
LONG_POLL_S = 25  # the longest `wait` the status route honours
HELD_S = 1.0  # an answer sooner than this was not held: the server ignores `wait`
POLL_FIRST_S, POLL_MAX_S = 0.5, 10.0  # polite polling of a server that answers at once
RETRIES = 4  # 503/429 answers waited out (Retry-After) before giving up
RETRY_AFTER_DEFAULT_S, RETRY_AFTER_MAX_S = 1.0, 60.0
BATCH_LIMIT = 1000  # items the batch route takes at once
CONCURRENCY = 32  # contracts waited for (long-polls held open) at once
DEFAULT_TIMEOUT_S = 600.0

EXIT_CODES = {"success": 0, "skipped": 0, "error": 1, "not_found": 1, "unreachable": 2, "timeout": 2,
              "refused": 64, "usage": 64, "unauthorized": 77}
SUMMARY_ROWS = ("success", "skipped", "error", "refused", "unreachable", "timeout")

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_FINISHED_DIR = re.compile(r".+-([0-9]+)-(0x[0-9a-fA-F]{40})")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class Failure(Exception):
    """Why a contract (or the whole command) did not succeed; `outcome` names it and picks the exit code."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def add_commands(subparsers) -> None:
    """Register `get` and `status` on the `ethsource` command's sub-parsers; `run` executes them."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the service's base URL (default: $ETHSOURCE_URL, else {DEFAULT_URL})")
    common.add_argument("--api-key", help="sent as X-API-Key (default: $ETHSOURCE_API_KEY)")
    common.add_argument("--chain-id", type=int, default=1, help="the chain (default 1, Ethereum mainnet)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")

    get = subparsers.add_parser(
        "get", parents=[common], help="submit a contract, wait for its scan, download its source",
        description="Submit, wait, download and write a contract's verified source. Exit codes: 0 done, 1 the "
                    "contract failed, 2 the service could not be used or --timeout ran out, 64 input refused, "
                    "77 API key missing or wrong.")
    get.add_argument("address", nargs="?", help="the contract's address")
    get.add_argument("--file", help="many contracts: one ADDRESS or CHAIN:ADDRESS per line, '#' comments; "
                                    "'-' reads stdin; each goes to DIR/<ContractName>-<chain>-<address>/")
    get.add_argument("-o", "--output", type=Path, help="the directory to write into (default: "
                                                         "./<ContractName>-<address>/, or . with --file)")
    get.add_argument("--format", choices=FORMATS, default="files",
                     help="files: the source tree (default); zip: the zip file; json: one JSON file; "
                          "foundry: a project forge build accepts")
    get.add_argument("--refresh", action="store_true", help="scan again even if the contract is known")
    get.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                     help=f"give up waiting after this many seconds (default {DEFAULT_TIMEOUT_S:.0f})")
    get.set_defaults(client_command="get")

    status = subparsers.add_parser("status", parents=[common], help="show what the service knows of a contract")
    status.add_argument("address", help="the contract's address")
    status.set_defaults(client_command="status")


def run(args: argparse.Namespace, *, transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> int:
    """Run a parsed `get` or `status`; returns the exit code. `transport`, `sleep` and `clock` are for tests."""
    url = args.url or os.environ.get("ETHSOURCE_URL") or DEFAULT_URL
    api_key = args.api_key or os.environ.get("ETHSOURCE_API_KEY") or None
    try:
        with Api(url, api_key, transport=transport, sleep=sleep, clock=clock) as api:
            if args.client_command == "status":
                return _status(api, args)
            if bool(args.address) == bool(args.file):
                raise Failure("usage", "give either an ADDRESS or --file FILE")
            if not args.timeout > 0:
                raise Failure("usage", "--timeout must be a positive number of seconds")
            return _get_many(api, args) if args.file else _get_one(api, args)
    except Failure as failure:
        if args.json:
            print(json.dumps({"outcome": failure.outcome, "error": failure.message}))
        else:
            print(f"ethsource: {failure.message}", file=sys.stderr)
        return EXIT_CODES[failure.outcome]


class Api:
    """The HTTP API through one httpx client (shared by a batch's threads): waits out 503/429, names failures.

    The API key only ever travels in the X-API-Key header; no message here includes headers.
    """

    def __init__(self, base_url: str, api_key: str | None, *, transport: httpx.BaseTransport | None,
                 sleep: Callable[[float], None], clock: Callable[[], float]):
        self.base_url = base_url
        self.sleep = sleep
        self.clock = clock
        try:
            self._http = httpx.Client(
                base_url=base_url, transport=transport, headers={"X-API-Key": api_key} if api_key else {},
                timeout=httpx.Timeout(10.0, read=LONG_POLL_S + 10.0),  # a long-poll is held up to LONG_POLL_S
                limits=httpx.Limits(max_connections=CONCURRENCY + 4))
        except httpx.InvalidURL as exc:
            raise Failure("usage", f"{base_url!r} is not a URL ({exc}): check --url or ETHSOURCE_URL") from None

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc_info) -> None:
        self._http.close()

    def call(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs) -> httpx.Response:
        """The answer when its status is in `ok`; otherwise a Failure, after waiting out a few 503/429."""
        retries = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                raise Failure("unreachable", f"cannot reach the ethsource service at {self.base_url} "
                                             f"({exc or type(exc).__name__}): check the URL (--url or ETHSOURCE_URL) "
                                             f"and that the service is running") from None
            if response.status_code in ok:
                return response
            if response.status_code in (429, 503) and retries < RETRIES:
                retries += 1
                self.sleep(_retry_after(response))
                continue
            raise _failure(response)


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP date, which this service does not send
        seconds = RETRY_AFTER_DEFAULT_S
    if not seconds >= 0:  # negative or NaN
        seconds = RETRY_AFTER_DEFAULT_S
    return min(seconds, RETRY_AFTER_MAX_S)


def _failure(response: httpx.Response) -> Failure:
    status = response.status_code
    code, message = _error_of(response)
    if status in (401, 403):
        if "X-API-Key" in response.request.headers:
            return Failure("unauthorized", f"{code}: the service refused the API key; set the right one with "
                                           f"--api-key or ETHSOURCE_API_KEY")
        return Failure("unauthorized", f"{code}: the service needs an API key; pass --api-key or set "
                                       f"ETHSOURCE_API_KEY")
    if status in (429, 503):
        return Failure("unreachable", f"{code}: {message} (still refused after {RETRIES} retries; try again later)")
    if status >= 500:
        return Failure("unreachable", f"the service failed (HTTP {status}) {code}: {message}")
    outcome = {404: "not_found", 400: "refused", 413: "refused", 422: "refused"}.get(status, "error")
    return Failure(outcome, f"{code}: {message}")


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The API's `{"error": {"code", "message"}}`, or what a gateway's plain answer allows."""
    try:
        error = response.json()["error"]
        return _printable(error["code"]), _printable(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.reason_phrase or "unexpected answer"


def _json_object(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Failure("unreachable", f"the service answered {response.request.url.path} with something that is not "
                                     f"a JSON object")
    return body


def _resource(body: dict) -> dict:
    """A contract resource, checked where this client relies on it (its address and chain name files)."""
    if not (isinstance(body.get("address"), str) and _ADDRESS.fullmatch(body["address"])
            and type(body.get("chain_id")) is int and isinstance(body.get("status"), str)):
        raise Failure("unreachable", "the service answered a contract resource this client cannot read")
    return body


# --- one contract: submit, wait, download ---------------------------------------------------------------


def submit(api: Api, address: str, chain_id: int, refresh: bool) -> dict:
    response = api.call("POST", "/contracts", ok=(200, 202),
                        json={"address": address, "chain_id": chain_id, "refresh": refresh})
    return _resource(_json_object(response))


def wait_settled(api: Api, resource: dict, deadline: float) -> dict:
    """The resource once SUCCESS or ERROR.

    Long-polls the status route (`wait` + If-None-Match: it answers as soon as the resource changes, or 304 after
    the wait). A server that answers at once with nothing new ignores `wait`, so it is polled with back-off.
    """
    etag = None
    pause = POLL_FIRST_S
    while resource["status"] not in TERMINAL:
        remaining = deadline - api.clock()
        if remaining <= 0:
            raise Failure("timeout", f"{resource['chain_id']}:{resource['address']} is still {resource['status']} "
                                     f"after --timeout; run the same command again to resume")
        started = api.clock()
        response = api.call(
            "GET", f"/contracts/{resource['address']}", ok=(200, 304),
            params={"chain_id": resource["chain_id"], "wait": max(1, min(LONG_POLL_S, int(remaining)))},
            headers={"If-None-Match": etag} if etag else {})
        held = api.clock() - started >= HELD_S
        changed = False
        if response.status_code == 200:
            resource = _resource(_json_object(response))
            new_etag = response.headers.get("ETag")
            changed = new_etag is not None and new_etag != etag
            etag = new_etag
        if resource["status"] not in TERMINAL and not (changed or held):
            api.sleep(min(pause, remaining))
            pause = min(pause * 2, POLL_MAX_S)
    return resource


def _raise_if_failed(resource: dict) -> None:
    if resource["status"] == "ERROR":
        error = resource.get("error") if isinstance(resource.get("error"), dict) else {}
        raise Failure("error", f"{_printable(error.get('code', 'error'))}: "
                               f"{_printable(error.get('message', 'the scan failed'))}")


def download(api: Api, resource: dict, fmt: str, directory: Path) -> Path:
    """Fetch a SUCCESS contract's source as `fmt` and write it into `directory`; returns the file or folder."""
    response = api.call("GET", f"/contracts/{resource['address']}/source",
                        params={"chain_id": resource["chain_id"], "format": "zip" if fmt == "files" else fmt})
    stem = f"{_safe_name(resource.get('contract_name'))}-{resource['chain_id']}-{resource['address']}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if fmt == "json":
            path = directory / f"{stem}.json"
            path.write_text(json.dumps(_json_object(response), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            return path
        if fmt == "zip":
            path = directory / _attachment_name(response, f"{stem}.zip")
            path.write_bytes(response.content)
            return path
        extract(response.content, directory)
        return directory
    except OSError as exc:
        raise Failure("error", f"cannot write into {directory}: {exc.strerror or exc}") from None


def extract(blob: bytes, directory: Path) -> list[Path]:
    """Write a zip's files under `directory`. An entry that would land anywhere else is skipped, with a warning."""
    root = directory.resolve()
    written = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise Failure("unreachable", "the service sent a zip that cannot be read") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            target = _inside(root, info.filename)
            if target is None:
                print(f"ethsource: skipped the unsafe zip entry {info.filename!r}", file=sys.stderr)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            written.append(target)
    return written


def _inside(root: Path, name: str) -> Path | None:
    """Where a zip entry goes under `root`, or None for `..`, absolute or drive paths and symlinked escapes."""
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name:
        return None
    target = root.joinpath(*(part for part in parts if part not in ("", "."))).resolve()
    return target if target != root and target.is_relative_to(root) else None


def _attachment_name(response: httpx.Response, fallback: str) -> str:
    match = re.search(r'filename="?([^";]+)', response.headers.get("Content-Disposition", ""))
    return _safe_name(re.split(r"[\\/]", match.group(1))[-1], fallback) if match else fallback


def _safe_name(name: str | None, fallback: str = "contract") -> str:
    """A name from an explorer (or a server) made fit for a file name: no separators, no leading dot."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name or "").strip("._-")[:80] or fallback


def _get_one(api: Api, args: argparse.Namespace) -> int:
    deadline = api.clock() + args.timeout
    resource = wait_settled(api, submit(api, args.address, args.chain_id, args.refresh), deadline)
    _raise_if_failed(resource)
    directory = args.output or Path(f"{_safe_name(resource.get('contract_name'))}-{resource['address']}")
    written = download(api, resource, args.format, directory)
    if args.json:
        print(json.dumps({"outcome": "success", "address": resource["address"], "chain_id": resource["chain_id"],
                          "contract_name": resource.get("contract_name"), "path": str(written)}))
    else:
        name = _printable(resource.get("contract_name") or "contract")
        print(f"{name} ({resource['chain_id']}:{resource['address']}) written to {written}")
    return 0


# --- many contracts ----------------------------------------------------------------------------------------


@dataclass
class Item:
    """One contract of a batch, as the file named it, and how it went."""

    label: str
    chain_id: int | None
    address: str
    outcome: str = ""
    message: str = ""
    path: str = ""


def parse_lines(lines: Iterable[str], default_chain: int) -> list[Item]:
    """ADDRESS or CHAIN:ADDRESS per line; blanks and `#` comments skipped, repeats dropped, bad lines refused.

    Addresses are left for the service to judge: it says precisely what is wrong with one.
    """
    items, seen = [], set()
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        chain_text, colon, address = text.rpartition(":")
        if not colon:
            chain_id, address = default_chain, text
        elif re.fullmatch("[0-9]+", chain_text.strip()):
            chain_id, address = int(chain_text), address.strip()
        else:
            items.append(Item(f"line {number}", None, text, "refused",
                              f"line {number}: {text!r} is neither ADDRESS nor CHAIN:ADDRESS"))
            continue
        if (chain_id, address.lower()) not in seen:
            seen.add((chain_id, address.lower()))
            items.append(Item(f"{chain_id}:{address}", chain_id, address))
    return items


def _get_many(api: Api, args: argparse.Namespace) -> int:
    items = parse_lines(_read_lines(args.file), args.chain_id)
    out = args.output or Path(".")
    deadline = api.clock() + args.timeout
    finished = _finished_downloads(out)
    pending = []
    for item in items:
        if item.outcome:
            continue
        done = finished.get((item.chain_id, item.address.lower()))
        if done:
            item.outcome, item.path = "skipped", str(done)
        else:
            pending.append(item)
    accepted = _submit_batch(api, pending, args.refresh)
    progress = Progress(len(accepted))
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        futures = {pool.submit(_fetch_into, api, resource, args.format, out, deadline): item
                   for item, resource in accepted}
        for future in as_completed(futures):
            item = futures[future]
            try:
                item.path, item.outcome = str(future.result()), "success"
            except Failure as failure:
                item.outcome, item.message = failure.outcome, failure.message
            progress.update(item.outcome)
    progress.close()
    _print_summary(items, args.json)
    codes = {EXIT_CODES[item.outcome] for item in items}
    return 2 if 2 in codes else 1 if codes - {0} else 0


def _read_lines(file: str) -> list[str]:
    try:
        return sys.stdin.read().splitlines() if file == "-" else Path(file).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure("usage", f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None


def _finished_downloads(out: Path) -> dict[tuple[int, str], Path]:
    """(chain, lower-case address) -> the directory a previous run finished (only finished ones bear the name)."""
    if not out.is_dir():
        return {}
    finished = {}
    for entry in out.iterdir():
        match = _FINISHED_DIR.fullmatch(entry.name)
        if match and not entry.name.startswith(".") and entry.is_dir():
            finished[(int(match[1]), match[2].lower())] = entry
    return finished


def _submit_batch(api: Api, items: list[Item], refresh: bool) -> list[tuple[Item, dict]]:
    """Submit in chunks the batch route takes; refused items get their reason, accepted ones their resource."""
    accepted = []
    for start in range(0, len(items), BATCH_LIMIT):
        chunk = items[start:start + BATCH_LIMIT]
        body = {"contracts": [{"address": item.address, "chain_id": item.chain_id, "refresh": refresh}
                              for item in chunk]}
        try:
            results = _json_object(api.call("POST", "/contracts/batch", json=body)).get("results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise Failure("unreachable", "the service answered the batch with the wrong number of results")
        except Failure as failure:
            if failure.outcome == "unauthorized":
                raise  # every other chunk would be refused the same way
            for item in chunk:
                item.outcome, item.message = failure.outcome, failure.message
            continue
        for item, result in zip(chunk, results, strict=True):
            try:
                accepted.append((item, _batch_result(result)))
            except Failure as failure:
                item.outcome, item.message = failure.outcome, failure.message
    return accepted


def _batch_result(result) -> dict:
    """An accepted item is a resource (it has a `status`); a refused one has only its own `error`."""
    if isinstance(result, dict) and "status" in result:
        return _resource(result)
    error = result.get("error") if isinstance(result, dict) else None
    if not isinstance(error, dict):
        raise Failure("unreachable", "the service answered a batch item this client cannot read")
    raise Failure("refused", f"{_printable(error.get('code'))}: {_printable(error.get('message'))}")


def _fetch_into(api: Api, resource: dict, fmt: str, out: Path, deadline: float) -> Path:
    """Wait for one contract and write it into its own directory, which appears only once complete."""
    resource = wait_settled(api, resource, deadline)
    _raise_if_failed(resource)
    final = out / f"{_safe_name(resource.get('contract_name'))}-{resource['chain_id']}-{resource['address']}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    except OSError as exc:
        raise Failure("error", f"cannot write into {out}: {exc.strerror or exc}") from None
    try:
        download(api, resource, fmt, partial)
        if not final.exists():  # another run may have finished it meanwhile
            partial.rename(final)
    except OSError as exc:
        raise Failure("error", f"cannot write {final}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


class Progress:
    """One `\\r`-rewritten line on stderr while a batch waits, only when stderr is a terminal."""

    def __init__(self, total: int):
        self.total = total
        self.counts: Counter[str] = Counter()
        self.shown = total > 0 and sys.stderr.isatty()
        self._show()

    def update(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self._show()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")

    def _show(self) -> None:
        if self.shown:
            done = sum(self.counts.values())
            sys.stderr.write(f"\r{done}/{self.total} settled: {self.counts['success']} downloaded, "
                             f"{done - self.counts['success']} failed")
            sys.stderr.flush()


def _print_summary(items: list[Item], as_json: bool) -> None:
    counts = Counter(item.outcome for item in items)
    rows = {outcome: counts[outcome] for outcome in SUMMARY_ROWS} | dict(counts)
    if as_json:
        print(json.dumps({"counts": rows, "results": [
            {"chain_id": item.chain_id, "address": item.address, "outcome": item.outcome,
             "path": item.path or None, "error": item.message or None} for item in items]}, indent=2))
        return
    for outcome, count in rows.items():
        print(f"{outcome:<12} {count}")
    failed = [item for item in items if EXIT_CODES[item.outcome]]
    if failed:
        print("failed:")
        width = max(len(item.label) for item in failed)
        for item in failed:
            print(f"  {item.label:<{width}}  {item.outcome:<12} {item.message}")


# --- status ---------------------------------------------------------------------------------------------------


def _status(api: Api, args: argparse.Namespace) -> int:
    response = api.call("GET", f"/contracts/{quote(args.address, safe='')}", params={"chain_id": args.chain_id})
    resource = _json_object(response)
    if args.json:
        print(json.dumps(resource, indent=2))
        return 0
    for key, value in resource.items():
        if value is not None:
            print(f"{key:<17} {_shown(value)}")
    return 0


def _shown(value) -> str:
    if isinstance(value, dict) and {"code", "message"} <= value.keys():
        return f"{_printable(value['code'])}: {_printable(value['message'])}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _printable(value) if isinstance(value, str | int | float) else json.dumps(value)


def _printable(value) -> str:
    """Text from the service on one line, with no control characters (no escape sequences to the terminal)."""
    return _CONTROL.sub(" ", str(value))
