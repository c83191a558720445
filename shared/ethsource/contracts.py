"""What the functions do, independent of how they are triggered: submit, look up, download, scan."""

from __future__ import annotations

import logging
import random
import time
from enum import StrEnum

from . import sources, store
from .addresses import parse_address
from .config import get_settings
from .db import get_database
from .errors import InvalidInput, NotFound, NotReady
from .etherscan import EtherscanError, get_client
from .models import Contract, PoisonMessage, ScanMessage, Status
from .observability import SCAN_DURATION, SCAN_RETRIES, SCANS
from .queue import Disposition, get_publisher
from .sources import ContractSource, SourceError

log = logging.getLogger(__name__)


def submit(chain_id: int, address: str, *, refresh: bool = False) -> tuple[Contract, bool]:
    """Record the contract and queue a scan when one is due; returns (contract, queued).

    The message is published inside the transaction that creates (or re-opens) the row: if the broker
    does not confirm, the transaction rolls back and the caller gets Unavailable with nothing written.
    A scan that reads the row before the commit waits on its lock, so it never misses the row.
    """
    with get_database().transaction() as cursor:
        queued = store.insert_created(cursor, chain_id, address)
        if not queued:
            reopen = (Status.SUCCESS, Status.ERROR) if refresh else (Status.ERROR,)
            queued = store.requeue(cursor, chain_id, address, reopen)
        if queued:
            get_publisher().publish(ScanMessage(chain_id=chain_id, address=address).to_body())
        _, contract = store.get(cursor, chain_id, address)
    return contract, queued


def get(chain_id: int, address: str) -> Contract:
    with get_database().transaction() as cursor:
        found = store.get(cursor, chain_id, address)
    if found is None:
        raise NotFound(f"no contract {address} on chain {chain_id}; submit it with POST /contracts")
    return found[1]


def get_source(chain_id: int, address: str) -> tuple[Contract, ContractSource]:
    with get_database().transaction() as cursor:
        found = store.get(cursor, chain_id, address)
        if found is None:
            raise NotFound(f"no contract {address} on chain {chain_id}; submit it with POST /contracts")
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
    try:
        message = ScanMessage.from_body(body)
    except PoisonMessage as exc:
        log.error("dead-lettering a poison message", extra={"error_code": exc.code, "reason": exc.message})
        SCANS.labels(ScanOutcome.POISON).inc()
        return Disposition.DEAD_LETTER
    outcome = scan(message.chain_id, message.address)
    SCANS.labels(outcome).inc()
    SCAN_DURATION.observe(time.perf_counter() - started)
    return Disposition.ACK


class ScanOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"  # recorded as ERROR with a code
    RETRY = "retry"  # a passing fault: back in the queue after a delay
    SKIPPED = "skipped"  # nothing to do: an unknown contract, or one already settled (a redelivery)
    POISON = "poison"


def scan(chain_id: int, address: str) -> ScanOutcome:
    """Fetch, parse and store one contract's source, or record why not, or schedule a retry."""
    where = {"chain_id": chain_id, "address": address}
    database = get_database()
    with database.transaction() as cursor:
        claimed = store.claim(cursor, chain_id, address)
    if claimed is None:
        log.info("nothing to scan", extra=where)
        return ScanOutcome.SKIPPED
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
        get_publisher().publish(ScanMessage(chain_id=contract.chain_id, address=contract.address).to_body(),
                                retry=contract.attempts, delay_s=delay)
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
