"""What the functions do, independent of how they are triggered: submit, look up, download, scan."""

from __future__ import annotations

import logging

from . import sources, store
from .db import get_database
from .errors import NotFound, NotReady
from .etherscan import EtherscanError, get_client
from .models import Contract, PoisonMessage, ScanMessage, Status
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
    try:
        message = ScanMessage.from_body(body)
    except PoisonMessage as exc:
        log.error("dead-lettering a poison message", extra={"error_code": exc.code, "reason": exc.message})
        return Disposition.DEAD_LETTER
    scan(message.chain_id, message.address)
    return Disposition.ACK


def scan(chain_id: int, address: str) -> Status | None:
    """Fetch, parse and store one contract's source; returns the status it settled in.

    None when there was nothing to do: the contract is unknown or already settled (a redelivery).
    """
    database = get_database()
    with database.transaction() as cursor:
        claimed = store.claim(cursor, chain_id, address)
    if claimed is None:
        log.info("nothing to scan", extra={"chain_id": chain_id, "address": address})
        return None
    contract_id, _ = claimed
    try:
        source = fetch_source(chain_id, address)
    except (EtherscanError, SourceError) as exc:
        with database.transaction() as cursor:
            store.save_error(cursor, contract_id, exc.code, exc.message)
        log.info("scan failed", extra={"chain_id": chain_id, "address": address, "error_code": exc.code})
        return Status.ERROR
    with database.transaction() as cursor:
        store.save_success(
            cursor, contract_id, sources.compress(source),
            contract_name=source.contract_name, compiler_version=source.compiler_version,
            language=source.language, proxy=source.proxy, implementation=source.implementation_address,
        )
    log.info("scan succeeded", extra={"chain_id": chain_id, "address": address})
    return Status.SUCCESS


def fetch_source(chain_id: int, address: str) -> ContractSource:
    return sources.parse_item(get_client().get_source_item(chain_id, address))
