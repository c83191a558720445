"""SQL for the contracts and their sources; every function takes a cursor inside a transaction."""

from __future__ import annotations

from .models import Contract, ErrorDetail, Status

_COLUMNS = (
    "id, address, chain_id, status, error_code, error_message, attempts, created_at, updated_at,"
    " contract_name, compiler_version, language, proxy, implementation"
)
_NOW = "UTC_TIMESTAMP(6)"


def _contract(row) -> tuple[int, Contract]:
    (cid, address, chain_id, status, error_code, error_message, attempts, created, updated,
     name, compiler, language, proxy, implementation) = row
    error = ErrorDetail(code=error_code, message=error_message or "") if error_code else None
    return cid, Contract(
        address=address, chain_id=chain_id, status=Status(status), error=error, attempts=attempts,
        created_at=created, updated_at=updated, contract_name=name, compiler_version=compiler,
        language=language, proxy=None if proxy is None else bool(proxy), implementation=implementation,
    )


def get(cursor, chain_id: int, address: str) -> tuple[int, Contract] | None:
    cursor.execute(f"SELECT {_COLUMNS} FROM contracts WHERE chain_id = %s AND address = %s", (chain_id, address))
    row = cursor.fetchone()
    return _contract(row) if row else None


def insert_created(cursor, chain_id: int, address: str) -> bool:
    """True when this call created the row; False when it existed (the unique key decides races)."""
    cursor.execute(
        f"INSERT INTO contracts (chain_id, address, status, created_at, updated_at)"
        f" VALUES (%s, %s, 'CREATED', {_NOW}, {_NOW}) ON DUPLICATE KEY UPDATE id = id",
        (chain_id, address),
    )
    return cursor.rowcount == 1


def requeue(cursor, chain_id: int, address: str, from_statuses: tuple[Status, ...]) -> bool:
    """Back to CREATED for a new scan, only from the given statuses: of racing callers, one wins."""
    placeholders = ", ".join(["%s"] * len(from_statuses))
    cursor.execute(
        f"UPDATE contracts SET status = 'CREATED', error_code = NULL, error_message = NULL, attempts = 0,"
        f" updated_at = {_NOW} WHERE chain_id = %s AND address = %s AND status IN ({placeholders})",
        (chain_id, address, *from_statuses),
    )
    return cursor.rowcount == 1


def claim(cursor, chain_id: int, address: str) -> tuple[int, Contract] | None:
    """Mark PROCESS and count the attempt; None when the contract is unknown or already settled."""
    cursor.execute(
        f"UPDATE contracts SET status = 'PROCESS', attempts = attempts + 1, updated_at = {_NOW}"
        " WHERE chain_id = %s AND address = %s AND status IN ('CREATED', 'PROCESS')",
        (chain_id, address),
    )
    return get(cursor, chain_id, address) if cursor.rowcount == 1 else None


def requeue_for_retry(cursor, contract_id: int) -> bool:
    cursor.execute(f"UPDATE contracts SET status = 'CREATED', updated_at = {_NOW} WHERE id = %s AND status = 'PROCESS'",
                   (contract_id,))
    return cursor.rowcount == 1


def save_success(cursor, contract_id: int, payload: bytes, *, contract_name, compiler_version, language,
                 proxy: bool, implementation: str | None) -> bool:
    """Store the source and mark SUCCESS; False (and nothing stored) if the row is no longer PROCESS."""
    cursor.execute(
        f"UPDATE contracts SET status = 'SUCCESS', error_code = NULL, error_message = NULL,"
        f" contract_name = %s, compiler_version = %s, language = %s, proxy = %s, implementation = %s,"
        f" updated_at = {_NOW} WHERE id = %s AND status = 'PROCESS'",
        (contract_name, compiler_version, language, proxy, implementation, contract_id),
    )
    if cursor.rowcount != 1:
        return False
    cursor.execute(
        f"INSERT INTO contract_sources (contract_id, payload, size_bytes, fetched_at) VALUES (%s, %s, %s, {_NOW})"
        f" ON DUPLICATE KEY UPDATE payload = VALUES(payload), size_bytes = VALUES(size_bytes),"
        f" fetched_at = VALUES(fetched_at)",
        (contract_id, payload, len(payload)),
    )
    return True


def save_error(cursor, contract_id: int, code: str, message: str) -> bool:
    cursor.execute(
        f"UPDATE contracts SET status = 'ERROR', error_code = %s, error_message = %s, updated_at = {_NOW}"
        " WHERE id = %s AND status = 'PROCESS'",
        (code, message[:1024], contract_id),
    )
    return cursor.rowcount == 1


def contract_stats(cursor) -> tuple[dict[str, int], float]:
    """Contracts by status (every status present, zeros included) and the age of the oldest CREATED one."""
    cursor.execute("SELECT status, COUNT(*) FROM contracts GROUP BY status")
    by_status = {status.value: 0 for status in Status} | dict(cursor.fetchall())
    cursor.execute(f"SELECT TIMESTAMPDIFF(MICROSECOND, MIN(updated_at), {_NOW}) FROM contracts"
                   " WHERE status = 'CREATED'")
    age = cursor.fetchone()[0]
    return by_status, (age or 0) / 1e6


def get_payload(cursor, contract_id: int) -> bytes | None:
    cursor.execute("SELECT payload FROM contract_sources WHERE contract_id = %s", (contract_id,))
    row = cursor.fetchone()
    return row[0] if row else None
