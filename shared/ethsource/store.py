"""SQL for the contracts and their sources; every function takes a cursor inside a transaction."""

from __future__ import annotations

from .models import Contract, ErrorDetail, Status

_COLUMNS = (
    "id, address, chain_id, status, error_code, error_message, attempts, created_at, updated_at,"
    " contract_name, compiler_version, language, proxy, implementation"
)
_NOW = "UTC_TIMESTAMP(6)"


def _text(value: str | None, size: int) -> str | None:
    """Etherscan's text as the column can hold it: at most `size` characters, no lone surrogates."""
    if value is None:
        return None
    return value.encode("utf-8", "replace").decode("utf-8")[:size]


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


def _keys_match(keys: list[tuple[int, str]]) -> tuple[str, list]:
    """A condition on (chain_id, address) that MariaDB looks up in its unique index for any number of keys.

    Not `(chain_id, address) IN ((..))`: with a single pair, MariaDB 10.11 plans that UPDATE as a scan of the
    status index, which reads (and locks) every row of that status, so one submission took ~10 ms with 37 000
    rows in the table and got slower as it grew.
    """
    return " OR ".join(["(chain_id = %s AND address = %s)"] * len(keys)), [part for key in keys for part in key]


def insert_created_many(cursor, keys: list[tuple[int, str]], batch: bytes) -> None:
    """Insert the unknown contracts as CREATED, marked as queued by `batch`; known ones stay as they are."""
    rows = ", ".join([f"(%s, %s, 'CREATED', {_NOW}, {_NOW}, %s)"] * len(keys))
    cursor.execute(
        f"INSERT INTO contracts (chain_id, address, status, created_at, updated_at, queued_by) VALUES {rows}"
        " ON DUPLICATE KEY UPDATE id = id",
        [part for chain_id, address in keys for part in (chain_id, address, batch)],
    )


def requeue_many(cursor, keys: list[tuple[int, str]], from_statuses: tuple[Status, ...], batch: bytes) -> None:
    """Back to CREATED for a new scan, marked as queued by `batch`, those of the contracts in `from_statuses`."""
    if not keys:
        return
    match, values = _keys_match(keys)
    statuses = ", ".join(["%s"] * len(from_statuses))
    cursor.execute(
        f"UPDATE contracts SET status = 'CREATED', error_code = NULL, error_message = NULL, attempts = 0,"
        f" updated_at = {_NOW}, queued_by = %s WHERE ({match}) AND status IN ({statuses})",
        [batch, *values, *from_statuses],
    )


def get_many(cursor, keys: list[tuple[int, str]], batch: bytes | None = None,
             ) -> dict[tuple[int, str], tuple[Contract, bool]]:
    """The contracts of these keys, each with whether `batch` queued it (never, without one), in one query."""
    match, values = _keys_match(keys)
    cursor.execute(f"SELECT {_COLUMNS}, queued_by = %s FROM contracts WHERE {match}", [batch, *values])
    found = {}
    for row in cursor.fetchall():
        contract = _contract(row[:-1])[1]
        found[(contract.chain_id, contract.address)] = (contract, bool(row[-1]))
    return found


def claim(cursor, chain_id: int, address: str, lease_s: float) -> tuple[int, Contract] | float | None:
    """Mark PROCESS and count the attempt, and return the contract.

    A PROCESS row is taken only once its lease ran out (its scanner died); before that, the seconds left of
    the lease are returned. None when the contract is unknown or already settled.
    """
    lease = int(lease_s * 1e6)
    cursor.execute(
        f"UPDATE contracts SET status = 'PROCESS', attempts = attempts + 1, updated_at = {_NOW}"
        " WHERE chain_id = %s AND address = %s AND (status = 'CREATED'"
        f" OR (status = 'PROCESS' AND updated_at < {_NOW} - INTERVAL %s MICROSECOND))",
        (chain_id, address, lease),
    )
    if cursor.rowcount == 1:
        return get(cursor, chain_id, address)
    cursor.execute(f"SELECT %s - TIMESTAMPDIFF(MICROSECOND, updated_at, {_NOW}) FROM contracts"
                   " WHERE chain_id = %s AND address = %s AND status = 'PROCESS'", (lease, chain_id, address))
    row = cursor.fetchone()
    return max(row[0], 0) / 1e6 if row else None


def requeue_for_retry(cursor, contract_id: int) -> bool:
    cursor.execute(f"UPDATE contracts SET status = 'CREATED', updated_at = {_NOW} WHERE id = %s AND status = 'PROCESS'",
                   (contract_id,))
    return cursor.rowcount == 1


def stuck(cursor, older_than_s: float, limit: int) -> list[tuple[int, int, str]]:
    """(id, chain_id, address) of contracts in CREATED or PROCESS untouched for longer than `older_than_s`."""
    cursor.execute(
        f"SELECT id, chain_id, address FROM contracts WHERE status IN ('CREATED', 'PROCESS')"
        f" AND updated_at < {_NOW} - INTERVAL %s MICROSECOND ORDER BY updated_at LIMIT %s",
        (int(older_than_s * 1e6), limit),
    )
    return list(cursor.fetchall())


def requeue_stuck(cursor, contract_id: int, older_than_s: float) -> bool:
    """Back to CREATED if still stuck: of several sweepers racing for one row, one wins."""
    cursor.execute(
        f"UPDATE contracts SET status = 'CREATED', updated_at = {_NOW} WHERE id = %s"
        f" AND status IN ('CREATED', 'PROCESS') AND updated_at < {_NOW} - INTERVAL %s MICROSECOND",
        (contract_id, int(older_than_s * 1e6)),
    )
    return cursor.rowcount == 1


def save_success(cursor, contract_id: int, payload: bytes, *, contract_name, compiler_version, language,
                 proxy: bool, implementation: str | None) -> bool:
    """Store the source and mark SUCCESS; False (and nothing stored) if the row is no longer PROCESS."""
    cursor.execute(
        f"UPDATE contracts SET status = 'SUCCESS', error_code = NULL, error_message = NULL,"
        f" contract_name = %s, compiler_version = %s, language = %s, proxy = %s, implementation = %s,"
        f" updated_at = {_NOW} WHERE id = %s AND status = 'PROCESS'",
        (_text(contract_name, 255), _text(compiler_version, 128), _text(language, 32), proxy, implementation,
         contract_id),
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
        (code, _text(message, 1024), contract_id),
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
