"""What the functions do, independent of how they are triggered: submit, look up, download, scan."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from enum import StrEnum

import pymysql
from opentelemetry.context import Context

from . import sources, store
from .addresses import parse_address
from .config import get_settings
from .db import get_database
from .errors import InvalidInput, NotFound, NotReady
from .etherscan import EtherscanError, get_client
from .models import Contract, PoisonMessage, ScanMessage, Status
from .observability import SCAN_DURATION, SCAN_RETRIES, SCANS, SWEPT, consume_span
from .queue import Disposition, get_publisher
from .sources import ContractSource, SourceError

log = logging.getLogger(__name__)

DEADLOCK = 1213  # MySQL's ER_LOCK_DEADLOCK


def reload_settings() -> None:
    """Forget the settings and every client built from them, for tests and benchmarks that change the env."""
    if get_publisher.cache_info().currsize:
        get_publisher().close()
    for cached in (get_settings, get_database, get_publisher, get_client):
        cached.cache_clear()


@dataclass(frozen=True)
class Submission:
    chain_id: int
    address: str
    refresh: bool = False
    trace_context: Context | None = None  # the submitting request's, so the scan continues its trace


def submit(chain_id: int, address: str, *, refresh: bool = False) -> tuple[Contract, bool]:
    """Record the contract and queue a scan when one is due; returns (contract, queued)."""
    [result] = submit_many([Submission(chain_id, address, refresh)])
    return result


def submit_many(submissions: list[Submission]) -> list[tuple[Contract, bool]]:
    """Record a batch of submissions in one transaction and queue the scans that are due in one broker commit.

    The messages are published inside the database transaction that creates (or re-opens) the rows: if the
    broker does not commit them, the transaction rolls back and every caller gets Unavailable with nothing
    written. A scan that reads a row before the database commit waits on its lock, so it never misses it.
    """
    for attempt in range(1, 4):
        try:
            return _submit_many(submissions)
        except pymysql.err.OperationalError as exc:
            # Two batches inserting neighbouring keys can deadlock; InnoDB rolled one back: run it again.
            if exc.args[0] != DEADLOCK or attempt == 3:
                raise
    raise AssertionError("unreachable")


def _submit_many(submissions: list[Submission]) -> list[tuple[Contract, bool]]:
    batch = os.urandom(16)
    ordered = sorted({(s.chain_id, s.address) for s in submissions})  # one lock order for every batch
    refresh = {(s.chain_id, s.address) for s in submissions if s.refresh}
    context = {}
    for s in submissions:
        context.setdefault((s.chain_id, s.address), s.trace_context)
    with get_database().transaction() as cursor:
        store.insert_created_many(cursor, ordered, batch)
        store.requeue_many(cursor, [k for k in ordered if k in refresh], (Status.SUCCESS, Status.ERROR), batch)
        store.requeue_many(cursor, [k for k in ordered if k not in refresh], (Status.ERROR,), batch)
        found = store.get_many(cursor, ordered, batch)
        messages = [(ScanMessage(chain_id=key[0], address=key[1]).to_body(), context[key])
                    for key in ordered if found[key][1]]
        if messages:
            get_publisher().publish_batch(messages)
    # A key submitted twice in one batch is queued once: its first submission says "queued", the others not.
    answered = set()
    results = []
    for s in submissions:
        key = (s.chain_id, s.address)
        contract, queued = found[key]
        results.append((contract, queued and key not in answered))
        answered.add(key)
    return results


def sweep(older_than_s: float | None = None, limit: int = 1000) -> int:
    """Queue again the contracts stuck in CREATED or PROCESS for longer than `older_than_s`; returns how many.

    Every accepted submission has a message, so a stuck row means its message was lost (purged, or the broker
    lost it) or its scanner vanished in a way the broker did not see. Queuing it twice is harmless: the scan's
    claim lets one through and settles the other as skipped.
    """
    older_than_s = get_settings().sweep_after_s if older_than_s is None else older_than_s
    with get_database().transaction() as cursor:
        candidates = store.stuck(cursor, older_than_s, limit)
    requeued = 0
    for contract_id, chain_id, address in candidates:
        with get_database().transaction() as cursor:
            if store.requeue_stuck(cursor, contract_id, older_than_s):
                get_publisher().publish(ScanMessage(chain_id=chain_id, address=address).to_body())
                requeued += 1
                log.warning("re-queued a stuck contract", extra={"chain_id": chain_id, "address": address})
    SWEPT.inc(requeued)
    return requeued


def get(chain_id: int, address: str) -> Contract:
    [found] = get_many([(chain_id, address)])
    if isinstance(found, NotFound):
        raise found
    return found


def get_many(keys: list[tuple[int, str]]) -> list[Contract | NotFound]:
    """The contract of each (chain_id, address), or NotFound, in one query."""
    with get_database().transaction() as cursor:
        found = store.get_many(cursor, list(set(keys)))
    return [found[key][0] if key in found else _not_found(*key) for key in keys]


def _not_found(chain_id: int, address: str) -> NotFound:
    return NotFound(f"no contract {address} on chain {chain_id}; submit it with POST /contracts")


def get_source(chain_id: int, address: str) -> tuple[Contract, ContractSource]:
    with get_database().transaction() as cursor:
        found = store.get(cursor, chain_id, address)
        if found is None:
            raise _not_found(chain_id, address)
        contract_id, contract = found
        if contract.status is Status.ERROR:
            raise NotReady(f"the scan failed: {contract.error.code}: {contract.error.message}", "scan_failed")
        if contract.status is not Status.SUCCESS:
            raise NotReady(f"the contract is {contract.status}; poll GET /contracts/{address} until SUCCESS")
        payload = store.get_payload(cursor, contract_id)
    return contract, sources.decompress(payload)


def contract_stats() -> tuple[dict[str, int], float]:
    with get_database().transaction() as cursor:
        return store.contract_stats(cursor)


def settle_message(body: bytes, headers: dict | None = None) -> Disposition:
    """Settle one scan message, whatever its trigger (consumer, Lambda MQ event, CloudEvent)."""
    started = time.perf_counter()
    with consume_span(f"{get_settings().scan_queue} process", headers) as span:
        try:
            message = ScanMessage.from_body(body)
        except PoisonMessage as exc:
            log.error("dead-lettering a poison message", extra={"error_code": exc.code, "reason": exc.message})
            SCANS.labels(ScanOutcome.POISON).inc()
            span.set_attribute("ethsource.outcome", ScanOutcome.POISON)
            return Disposition.DEAD_LETTER
        span.set_attributes({"ethsource.chain_id": message.chain_id, "ethsource.address": message.address})
        outcome = scan(message.chain_id, message.address)
        span.set_attribute("ethsource.outcome", outcome)
    SCANS.labels(outcome).inc()
    SCAN_DURATION.observe(time.perf_counter() - started)
    return Disposition.ACK


class ScanOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"  # recorded as ERROR with a code
    RETRY = "retry"  # a passing fault: back in the queue after a delay
    SKIPPED = "skipped"  # nothing to do: an unknown contract, or one already settled (a redelivery)
    DEFERRED = "deferred"  # another copy holds the contract: this one looks again after the lease
    POISON = "poison"


def scan(chain_id: int, address: str) -> ScanOutcome:
    """Fetch, parse and store one contract's source, or record why not, or schedule a retry."""
    where = {"chain_id": chain_id, "address": address}
    database = get_database()
    settings = get_settings()
    with database.transaction() as cursor:
        claimed = store.claim(cursor, chain_id, address, settings.scan_lease_s)
    if claimed is None:
        log.info("nothing to scan", extra=where)
        return ScanOutcome.SKIPPED
    if isinstance(claimed, float):
        # Another copy of this message is being scanned right now, or its scanner died: look again when the
        # lease has run out; by then the row is settled (this copy is skipped) or free to take.
        get_publisher().publish(ScanMessage(chain_id=chain_id, address=address).to_body(),
                                delay_queue=get_publisher().topology.recheck_queue, delay_s=claimed + 1)
        log.info("contract busy, looking again after its lease", extra={**where, "delay_s": round(claimed, 1)})
        return ScanOutcome.DEFERRED
    contract_id, contract = claimed
    try:
        source = fetch_source(chain_id, address)
    except EtherscanError as exc:
        if exc.transient and contract.attempts < get_settings().scan_max_attempts:
            schedule_retry(contract_id, contract, exc)
            return ScanOutcome.RETRY
        code = "etherscan_unavailable" if exc.transient else exc.code
        return _record_error(contract_id, code, exc.message, where)
    except SourceError as exc:
        return _record_error(contract_id, exc.code, exc.message, where)
    with database.transaction() as cursor:
        store.save_success(
            cursor, contract_id, sources.compress(source),
            contract_name=source.contract_name, compiler_version=source.compiler_version,
            language=source.language, proxy=source.proxy,
            implementation=_address_or_none(source.implementation_address),
        )
    log.info("scan succeeded", extra=where)
    return ScanOutcome.SUCCESS


def _record_error(contract_id: int, code: str, message: str, where: dict) -> ScanOutcome:
    with get_database().transaction() as cursor:
        store.save_error(cursor, contract_id, code, message)
    log.info("scan failed", extra={**where, "error_code": code, "reason": message})
    return ScanOutcome.ERROR


def schedule_retry(contract_id: int, contract: Contract, error: EtherscanError) -> None:
    """Back to CREATED, and the message into the delay queue of this attempt: it returns after the back-off.

    Published inside the transaction, as in `submit`: if the broker does not confirm, nothing changes and the
    message being settled is delivered again.
    """
    settings = get_settings()
    delay = settings.retry_delays_s[contract.attempts - 1]
    delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: retries of a burst of faults spread out
    with get_database().transaction() as cursor:
        store.requeue_for_retry(cursor, contract_id)
        publisher = get_publisher()
        publisher.publish(ScanMessage(chain_id=contract.chain_id, address=contract.address).to_body(),
                          delay_queue=publisher.topology.retry_queue(contract.attempts), delay_s=delay)
    SCAN_RETRIES.labels(error.code).inc()
    log.info("scan will be retried", extra={"chain_id": contract.chain_id, "address": contract.address,
                                            "attempt": contract.attempts, "delay_s": round(delay, 3),
                                            "reason": error.message})


def _address_or_none(raw: str | None) -> str | None:
    try:
        return parse_address(raw)
    except InvalidInput:
        return None


def fetch_source(chain_id: int, address: str) -> ContractSource:
    """The contract's source; for a proxy, with its implementation's (one level, same chain) when verified."""
    client = get_client()
    source = sources.parse_item(client.get_source_item(chain_id, address))
    implementation = _address_or_none(source.implementation_address)
    if not source.proxy or not implementation or implementation == address:
        return source
    try:
        implementation_source = sources.parse_item(client.get_source_item(chain_id, implementation))
    except (EtherscanError, SourceError) as exc:
        if getattr(exc, "transient", False):
            raise
        # The proxy itself is verified: serve it, and say why its implementation is missing.
        log.warning("implementation source unavailable", extra={"chain_id": chain_id, "address": address,
                                                                 "implementation": implementation,
                                                                 "error_code": exc.code})
        return source
    return sources.with_implementation(source, implementation_source)
