"""The contracts and their sources in MySQL: each method is one transaction of the statements a use case needs.

Every method that queues messages takes a `publish` callback and calls it inside its transaction, before the
commit: if the broker does not take the messages, nothing is written (and if the commit fails after the broker
took them, a duplicate message is harmless: the scan's claim lets one copy through).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .db import Database
from .models import Contract, ErrorDetail, Status

Key = tuple[int, str]  # (chain_id, address)

_NOW = "UTC_TIMESTAMP(6)"
_COLUMNS = ("id, address, chain_id, status, error_code, error_message, attempts, created_at, updated_at,"
            " contract_name, compiler_version, language, proxy, implementation, provider, source_match")


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int  # counting this one


@dataclass(frozen=True)
class Claims:
    claimed: dict[Key, Claimed]
    busy: dict[Key, float]  # held by another scan: the seconds left of its lease


@dataclass(frozen=True)
class StoredSource:
    """A fetched source as the database keeps it: the compressed tree and the fields the resource shows."""

    payload: bytes
    contract_name: str | None
    compiler_version: str | None
    language: str | None
    proxy: bool
    implementation: str | None
    provider: str
    match: str | None = None


@dataclass
class Settlement:
    """The outcomes of one claim's scans, written together; only rows the claim still holds are changed."""

    claim: bytes
    sources: dict[int, StoredSource] = field(default_factory=dict)
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (code, message)
    retries: list[int] = field(default_factory=list)  # back to CREATED: their messages wait in a delay queue

    def __bool__(self) -> bool:
        return bool(self.sources or self.errors or self.retries)


class ContractStore:
    def __init__(self, database: Database):
        self.database = database

    def open_scans(self, keys: list[Key], refresh: set[Key], batch: bytes,
                   publish: Callable[[list[Key]], None]) -> dict[Key, tuple[Contract, bool]]:
        """Record the contracts: unknown ones as CREATED, known ones in ERROR (or, in `refresh`, also in SUCCESS)
        back to CREATED; publish the scans of those this batch queued; each contract with whether it was queued.

        When every contract is new (most batches), one INSERT says so and nothing is read back: the rows are what
        it wrote, stamped with this host's clock (`now`). Reading them back was a round trip and most of a batch's
        CPU (docs/performance.md). The rows' later changes carry the database's clock; the two differ by the
        hosts' clock skew, and nothing compares them at that scale (leases and sweeps count seconds).
        """
        ordered = sorted(set(keys))

        def record(cursor) -> dict[Key, tuple[Contract, bool]]:
            now = datetime.now(UTC)
            if _insert_created(cursor, ordered, batch, now) == len(ordered):
                found = {(chain_id, address): (Contract(address=address, chain_id=chain_id, status=Status.CREATED,
                                                        created_at=now, updated_at=now), True)
                         for chain_id, address in ordered}
            else:
                _reopen(cursor, [k for k in ordered if k not in refresh], batch, (Status.ERROR,))
                _reopen(cursor, [k for k in ordered if k in refresh], batch, (Status.ERROR, Status.SUCCESS))
                found = read(cursor, ordered, batch)
            if queued := [key for key in ordered if found[key][1]]:
                publish(queued)
            return found

        return self.database.transact(record)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Contract]:
        with self.database.reading() as cursor:
            return {key: contract for key, (contract, _) in read(cursor, list(set(keys))).items()}

    def get_source(self, key: Key) -> tuple[Contract, bytes | None] | None:
        """The contract and, when it is SUCCESS, its stored source; None when unknown."""
        with self.database.transaction() as cursor:
            cursor.execute(f"SELECT {_COLUMNS} FROM contracts WHERE chain_id = %s AND address = %s", key)
            row = cursor.fetchone()
            if row is None:
                return None
            contract = _contract(row)
            if contract.status is not Status.SUCCESS:
                return contract, None
            cursor.execute("SELECT payload FROM contract_sources WHERE contract_id = %s", (row[0],))
            payload = cursor.fetchone()
        return contract, payload[0] if payload else None

    def claim(self, keys: list[Key], lease_s: float, claim: bytes) -> Claims:
        """Mark PROCESS (counting the attempt) the contracts that are CREATED, or PROCESS with a lease run out
        (their scanner died); the others are settled or unknown (nothing to do), or held by another scan."""
        ordered = sorted(set(keys))
        if not ordered:
            return Claims({}, {})

        rows = self.database.transact(lambda cursor: claim_rows(cursor, ordered, int(lease_s * 1e6), claim))
        claimed, busy = {}, {}
        for contract_id, chain_id, address, attempts, ours, in_process, lease_left in rows:
            if ours:
                claimed[(chain_id, address)] = Claimed(contract_id, attempts)
            elif in_process:
                busy[(chain_id, address)] = max(lease_left, 0) / 1e6  # µs
        return Claims(claimed, busy)

    def settle(self, settlements: list[Settlement], publish: Callable[[], None] | None = None) -> set[int]:
        """Write the outcomes (and publish, e.g. the retries, before the commit); the ids actually settled: those
        their claim still held. A handful of statements whatever the number of outcomes."""
        return self.database.transact(lambda cursor: self._settle(cursor, settlements, publish))

    @staticmethod
    def _settle(cursor, settlements: list[Settlement], publish: Callable[[], None] | None) -> set[int]:
        held = _still_held(cursor, settlements)
        sources = {i: source for s in settlements for i, source in s.sources.items() if i in held}
        errors = {i: error for s in settlements for i, error in s.errors.items() if i in held}
        retries = [i for s in settlements for i in s.retries if i in held]
        if sources:
            _update_from_rows(cursor, "status = 'SUCCESS', error_code = NULL, error_message = NULL,"
                              " contract_name = v.v_name, compiler_version = v.v_compiler,"
                              " language = v.v_language, proxy = v.v_proxy, implementation = v.v_implementation,"
                              " provider = v.v_provider, source_match = v.v_match",
                              ("v_name", "v_compiler", "v_language", "v_proxy", "v_implementation", "v_provider",
                               "v_match"),
                              {i: (_text(source.contract_name, 255), _text(source.compiler_version, 128),
                                   _text(source.language, 32), source.proxy, source.implementation,
                                   source.provider, source.match) for i, source in sources.items()})
            cursor.execute(
                "INSERT INTO contract_sources (contract_id, payload, size_bytes, fetched_at) VALUES "
                + ", ".join([f"(%s, %s, %s, {_NOW})"] * len(sources))
                + " ON DUPLICATE KEY UPDATE payload = VALUES(payload), size_bytes = VALUES(size_bytes),"
                  " fetched_at = VALUES(fetched_at)",
                [v for i, source in sources.items() for v in (i, source.payload, len(source.payload))])
        if errors:
            _update_from_rows(cursor, "status = 'ERROR', error_code = v.v_code, error_message = v.v_message",
                              ("v_code", "v_message"),
                              {i: (code, _text(message, 1024)) for i, (code, message) in errors.items()})
        if retries:
            cursor.execute(f"UPDATE contracts SET status = 'CREATED', updated_at = {_NOW}, claim = NULL"
                           f" WHERE id IN ({', '.join(['%s'] * len(retries))})", retries)
        if publish is not None:
            publish()
        return held

    def requeue_stuck(self, older_than_s: float, limit: int, batch: bytes,
                      publish: Callable[[list[Key]], None]) -> list[Key]:
        """Back to CREATED, and their scans published, the contracts in CREATED or PROCESS untouched for longer
        than `older_than_s` (at most `limit`, oldest first); of several sweepers racing for a row, one wins."""
        older_than = int(older_than_s * 1e6)
        return self.database.transact(lambda cursor: self._requeue_stuck(cursor, older_than, limit, batch, publish))

    @staticmethod
    def _requeue_stuck(cursor, older_than: int, limit: int, batch: bytes,
                       publish: Callable[[list[Key]], None]) -> list[Key]:
        cursor.execute(
            f"UPDATE contracts SET status = 'CREATED', updated_at = {_NOW}, claim = NULL, queued_by = %s"
            f" WHERE status IN ('CREATED', 'PROCESS') AND updated_at < {_NOW} - INTERVAL %s MICROSECOND"
            f" ORDER BY updated_at LIMIT %s", (batch, older_than, limit))
        if cursor.rowcount == 0:
            return []
        cursor.execute("SELECT chain_id, address FROM contracts WHERE queued_by = %s AND status = 'CREATED'",
                       (batch,))
        keys = [(chain_id, address) for chain_id, address in cursor.fetchall()]
        publish(keys)
        return keys

    def stats(self) -> tuple[dict[str, int], float]:
        """Contracts by status (every status present) and how long the oldest one still waiting for its scan
        (CREATED or PROCESS) has waited since it was submitted, refreshed or resubmitted."""
        with self.database.transaction() as cursor:
            cursor.execute("SELECT status, COUNT(*) FROM contracts GROUP BY status")
            by_status = {status.value: 0 for status in Status} | dict(cursor.fetchall())
            cursor.execute(f"SELECT TIMESTAMPDIFF(MICROSECOND, MIN(queued_at), {_NOW}) FROM contracts"
                           " WHERE status IN ('CREATED', 'PROCESS')")
            age = cursor.fetchone()[0]
        return by_status, (age or 0) / 1e6


def claim_rows(cursor, keys: list[Key], lease_us: int, claim: bytes) -> list[tuple]:
    """PROCESS for the claimable rows of these keys, then (id, chain_id, address, attempts, ours, in PROCESS,
    µs left of the lease) of every row of these keys.

    The index is forced: weighing the status condition, MariaDB would plan this UPDATE on the status index when
    few rows are CREATED or PROCESS, and so read (and lock) every one of them when many are.
    """
    match, values = _keys_match(keys)
    cursor.execute(
        f"UPDATE contracts FORCE INDEX (contracts_chain_address) SET status = 'PROCESS', attempts = attempts + 1,"
        f" updated_at = {_NOW}, claim = %s"
        f" WHERE ({match}) AND (status = 'CREATED'"
        f" OR (status = 'PROCESS' AND updated_at < {_NOW} - INTERVAL %s MICROSECOND))", [claim, *values, lease_us])
    cursor.execute(
        f"SELECT id, chain_id, address, attempts, claim = %s, status = 'PROCESS',"
        f" %s - TIMESTAMPDIFF(MICROSECOND, updated_at, {_NOW}) FROM contracts WHERE {match}",
        [claim, lease_us, *values])
    return list(cursor.fetchall())


def _still_held(cursor, settlements: list[Settlement]) -> set[int]:
    """The ids of the outcomes' rows that are still PROCESS under their claim, locked for the transaction (a row
    another scanner took over once its lease ran out is not this claim's to settle)."""
    pairs = [(i, s.claim) for s in settlements for i in (*s.sources, *s.errors, *s.retries)]
    if not pairs:
        return set()
    cursor.execute("SELECT id FROM contracts WHERE status = 'PROCESS' AND ("
                   + " OR ".join(["(id = %s AND claim = %s)"] * len(pairs)) + ") FOR UPDATE",
                   [v for pair in pairs for v in pair])
    return {row[0] for row in cursor.fetchall()}


def _update_from_rows(cursor, assignments: str, columns: tuple[str, ...], rows: dict[int, tuple]) -> None:
    """One UPDATE of many rows, each with values of its own: joined to a derived table of (v_id, *columns), whose
    names differ from the table's so that every assignment is unambiguous."""
    first = ", ".join(["%s AS v_id", *(f"%s AS {column}" for column in columns)])
    rest = ", ".join(["%s"] * (len(columns) + 1))
    derived = " UNION ALL ".join([f"SELECT {first}"] + [f"SELECT {rest}"] * (len(rows) - 1))
    cursor.execute(f"UPDATE contracts JOIN ({derived}) AS v ON contracts.id = v.v_id"
                   f" SET {assignments}, updated_at = {_NOW}, claim = NULL",
                   [value for i, row in rows.items() for value in (i, *row)])


def _keys_match(keys: list[Key]) -> tuple[str, list]:
    """A condition on (chain_id, address) that MariaDB looks up in its unique index for any number of keys.

    Not `(chain_id, address) IN ((..))`: with a single pair, MariaDB 10.11 plans that UPDATE as a scan of the
    status index, which reads (and locks) every row of that status, so one submission took ~10 ms with 37 000
    rows in the table and got slower as it grew.
    """
    return " OR ".join(["(chain_id = %s AND address = %s)"] * len(keys)), [part for key in keys for part in key]


def _insert_created(cursor, keys: list[Key], batch: bytes, now: datetime) -> int:
    """Insert the unknown contracts as CREATED, queued by `batch` at `now`; how many were inserted (a known
    contract's row is left as it is: its no-op update counts no affected row, as MySQL counts them unless a client
    asks for rows found instead, which ours do not)."""
    # The same for every row, and ours (not input): written once into the statement rather than escaped as a
    # parameter per row, which cost as much as the rest of the statement. DATETIME holds no zone: UTC, as here.
    stamp = f"'{now:%Y-%m-%d %H:%M:%S.%f}'"
    rows = ", ".join([f"(%s, %s, 'CREATED', {stamp}, {stamp}, {stamp}, x'{batch.hex()}')"] * len(keys))
    cursor.execute(
        "INSERT INTO contracts (chain_id, address, status, created_at, updated_at, queued_at, queued_by)"
        f" VALUES {rows} ON DUPLICATE KEY UPDATE id = id", [part for key in keys for part in key])
    return cursor.rowcount


def _reopen(cursor, keys: list[Key], batch: bytes, reopen: tuple[Status, ...]) -> None:
    """Back to CREATED, queued by `batch`, the contracts of these keys in a status of `reopen`; the others stay
    as they are. The index is forced, as in claim_rows."""
    if not keys:
        return
    match, values = _keys_match(keys)
    statuses = ", ".join(repr(str(status)) for status in reopen)
    cursor.execute(
        f"UPDATE contracts FORCE INDEX (contracts_chain_address) SET status = 'CREATED', error_code = NULL,"
        f" error_message = NULL, attempts = 0, updated_at = {_NOW}, queued_at = {_NOW}, queued_by = %s"
        f" WHERE ({match}) AND status IN ({statuses})", [batch, *values])


def read(cursor, keys: list[Key], batch: bytes | None = None) -> dict[Key, tuple[Contract, bool]]:
    """The contracts of these keys, each with whether `batch` queued it (never, without one), in one query."""
    if not keys:
        return {}
    match, values = _keys_match(keys)
    cursor.execute(f"SELECT {_COLUMNS}, queued_by = %s FROM contracts WHERE {match}", [batch, *values])
    found = {}
    for row in cursor.fetchall():
        contract = _contract(row)
        found[(contract.chain_id, contract.address)] = (contract, bool(row[-1]))
    return found


def _contract(row) -> Contract:
    (_, address, chain_id, status, error_code, error_message, attempts, created, updated, name, compiler, language,
     proxy, implementation, provider, match) = row[:16]
    return Contract(
        address=address, chain_id=chain_id, status=Status(status),
        error=ErrorDetail(code=error_code, message=error_message or "") if error_code else None,
        attempts=attempts, created_at=created.replace(tzinfo=UTC), updated_at=updated.replace(tzinfo=UTC),
        contract_name=name, compiler_version=compiler, language=language,
        proxy=None if proxy is None else bool(proxy), implementation=implementation, provider=provider, match=match)


def _text(value: str | None, size: int) -> str | None:
    """Explorer text as the column can hold it: at most `size` characters, no lone surrogates."""
    if value is None:
        return None
    return value.encode("utf-8", "replace").decode("utf-8")[:size]
