"""The county database: SQLite by default, PostgreSQL for a province.

The SQL is kept portable (``ON CONFLICT ... DO NOTHING`` works in both); the few
differences (placeholders, auto-increment, binary type) live in ``_Dialect``.
Every event lands in ``events`` (unique on county + event id: exactly once),
and is projected into small tables the reports read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station import rollups
from station.migrate import migrate
from wire.files import fsync_dir

#: SQLite waits this long for another writer (a report, a second collector).
SQLITE_BUSY_TIMEOUT_S = 30.0
#: A PostgreSQL server that does not accept the connection within this is down.
PG_CONNECT_TIMEOUT_S = 5


#: SQL for one rapid-test sample over ``rapid_tests t``: (county, device, sample id); rows
#: stored before results named their sample count their test id as the sample.
SAMPLE_KEY = "t.county || '/' || t.device || '/' || coalesce(t.sample_id, t.test_id)"


@dataclass(frozen=True)
class Event:
    """A validated envelope, ready to store."""

    county: str
    device: str
    seq: int
    event_id: str
    kind: str
    schema: str
    version: int
    time: str
    data: dict[str, Any]
    body: str


@dataclass(frozen=True)
class Quarantined:
    """A message that could not be stored as an event, and why."""

    topic: str
    reason: str
    payload: bytes


@dataclass(frozen=True)
class DeviceState:
    county: str
    device: str
    status: str
    software_version: str
    config_version: str
    backlog: int
    time: str


@dataclass(frozen=True)
class IntakeAlarm:
    """A condition of the county's intake about one device (a flood, a conflicting event):
    stored once per (county, device, code) with a running count, so a flood makes one
    alarm, not one row per message."""

    county: str
    device: str
    code: str
    message: str
    count: int = 1


@dataclass
class StoreResult:
    """What one committed batch did."""

    new: int = 0
    duplicates: int = 0
    #: Events whose id was already stored with a different body (quarantined, alarmed).
    conflicts: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Gap:
    """Missing seqs ``first..last`` (inclusive) of one device."""

    county: str
    device: str
    first: int
    last: int


@dataclass(frozen=True)
class _Dialect:
    placeholder: str
    autoinc_pk: str
    blob: str


SQLITE = _Dialect("?", "INTEGER PRIMARY KEY", "BLOB")
POSTGRES = _Dialect("%s", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA")


#: Quarantined payloads are kept up to this size (the reason names the full size);
#: an attacker's megabytes should not fill the county disk.
QUARANTINE_KEEP_BYTES = 4096


#: Text that must not reach a text column as is: NUL (PostgreSQL refuses it), other
#: controls and lone surrogates (not encodable).
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def safe_text(text: str, limit: int = 500) -> str:
    """``text`` cut to ``limit`` with unsafe characters shown as escapes: quarantine
    reasons and topics are stored whatever the sender put in them."""
    return _UNSAFE_TEXT.sub(lambda m: ascii(m.group())[1:-1], text[:limit])


#: SQLSTATE classes of a store that refuses every write, whatever the data: connection
#: (08), transaction state (25: read-only on a standby or under
#: ``default_transaction_read_only``, a failed transaction), authorization (28),
#: rollback (40: deadlock, serialization), resources (53: disk full, out of shared
#: memory), prerequisite state (55: lock not available), operator intervention (57),
#: system (58), snapshot too old (72), configuration (F0), internal (XX: corruption).
_STORE_FAULT_CLASSES = frozenset({"08", "25", "28", "40", "53", "55", "57", "58", "72", "F0", "XX"})
#: ... and single codes of other classes: a revoked privilege (42501), a table gone
#: (42P01, our staging tables too: the retry reconnects and creates them again).
_STORE_FAULT_CODES = frozenset({"42501", "42P01"})


#: SQLite primary result codes of the store itself (busy, locked, out of memory,
#: read-only, interrupted, I/O, corrupt, full, cannot open, locking protocol, not a
#: database); the rest (constraint, too big, mismatch, range) are the data's.
_SQLITE_FAULT_CODES = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})


def is_connection_fault(error: BaseException) -> bool:
    """A fault of the store itself rather than of the data: the batch is retried on a
    new connection, never split (splitting would quarantine, and then acknowledge and
    count, every good event while the store refuses all writes).

    PostgreSQL: by SQLSTATE, not by psycopg's class, which gets both sides wrong: a
    read-only store (25006) is an ``InternalError``, while an index row too big for
    btree (54000, program limit: one kiosk's long four-byte text) is an
    ``OperationalError``, and retrying that message forever wedged the intake. Client
    errors without a SQLSTATE (connection lost, closed) are faults. SQLite: its
    OperationalError (locked, busy, I/O, read-only), and a corrupt file (a plain
    ``DatabaseError``, SQLITE_CORRUPT or SQLITE_NOTADB: every event would have been
    quarantined and acknowledged); a constraint or a value too big is the message's."""
    if isinstance(error, sqlite3.OperationalError):
        return True
    if isinstance(error, sqlite3.DatabaseError):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_FAULT_CODES
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgres extra is installed in deployment
        return False
    if not isinstance(error, psycopg.Error):
        return False
    sqlstate = error.sqlstate
    if not sqlstate:
        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
    return sqlstate[:2] in _STORE_FAULT_CLASSES or sqlstate in _STORE_FAULT_CODES


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: The county store holds personal data (names, phones): the service user only, or its
#: group when an administrator chose 0640. SQLite gives its -wal and -shm files the
#: database file's mode.
STORE_MODE = 0o600


def _private_store_file(path: Path) -> None:
    """Create the SQLite file 0600 whatever the umask (sqlite3 would create it 0644 under
    the usual umask 022), and take away any "other" or group-write bits a store, its WAL
    or shared-memory file already has."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, STORE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, STORE_MODE)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = file.stat().st_mode & 0o777
            if mode & 0o027:
                os.chmod(file, mode & 0o640)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL once. The switch needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, while another process (the
    enrollment service, a CLI) is opening the same new file: retry within the timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _source_numbers(data: dict[str, Any]) -> list[str]:
    """The certificates a 样式二 certificate re-issues: ``source_certificate`` and, for a
    mixed lot (混装), every number in ``sources``, without repeats."""
    found = list(data.get("sources") or [])
    if data.get("source_certificate"):
        found.append(data["source_certificate"])
    return list(dict.fromkeys(str(n) for n in found))


#: ``json.dumps(x, ensure_ascii=False)`` without building an encoder per call (a third
#: of projecting a certificate).
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _same_body(stored: str, received: str) -> bool:
    """The same JSON document (a redelivery), whatever its spacing."""
    if stored == received:
        return True
    try:
        return bool(json.loads(stored) == json.loads(received))
    except ValueError:
        return False


EVENT_COLUMNS = ("county", "device", "seq", "event_id", "kind", "schema_name", "version",
                 "event_time", "received_at", "body")  # fmt: skip
CERTIFICATE_COLUMNS = ("county", "number", "device", "event_id", "issued_at", "day", "township",
                       "service_point", "product_code", "product_name", "quantity", "unit",
                       "basis", "producer_key", "issuer_name", "issuer_phone", "origin",
                       "inputs_used", "test_ref", "style")  # fmt: skip
RAPID_TEST_COLUMNS = ("county", "device", "test_id", "day", "producer_key", "product_code",
                      "method", "analyte", "verdict", "retest_of", "sample_id",
                      "batch_id")  # fmt: skip

#: The PostgreSQL advisory lock key that serialises migrations of the county store.
SCHEMA_LOCK_KEY = 0x61677269


class Database:
    """One connection; used from one thread (the collector's writer, or a report)."""

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        postgres = self.url.startswith(("postgresql://", "postgres://"))
        self.dialect = POSTGRES if postgres else SQLITE
        self.conn: Any = self._connect()
        self._closed = False
        #: Staging tables this connection has created (``_stage``).
        self._stages: set[str] = set()
        try:
            self._create()
        except BaseException:
            self.conn.close()
            raise

    def _connect(self) -> Any:
        if self.dialect is POSTGRES:
            import psycopg  # optional extra "postgres"

            # A server that does not answer is a fault to retry, not a hang.
            return psycopg.connect(self.url, connect_timeout=PG_CONNECT_TIMEOUT_S)
        path = Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _private_store_file(path)
        # check_same_thread off: the web service's pool lends a connection to one
        # worker thread at a time (station/web/store.py), never to two at once.
        conn = sqlite3.connect(
            path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        _enable_wal(conn)
        # FULL: the broker is told "stored" only after the row would survive power loss.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def reconnect(self) -> None:
        """Drop the connection and open a new one (after the server restarted or our
        backend was terminated); raises like the first connect if the store is down."""
        with contextlib.suppress(Exception):  # a broken connection may fail to close
            self.conn.close()
        self.conn = self._connect()
        self._closed = False
        self._stages = set()

    # ---- plumbing -----------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self.dialect is SQLITE else sql.replace("?", "%s")

    def _begin(self) -> None:
        if self.dialect is SQLITE:
            self.conn.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self.dialect is SQLITE:
            self.conn.execute("COMMIT")
        else:
            self.conn.commit()

    def _rollback(self) -> None:
        self._stages = set()  # a staging table created in this transaction is gone
        try:
            if self.dialect is SQLITE:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            else:
                self.conn.rollback()
        except Exception as error:  # the original fault is what counts
            if not is_connection_fault(error):
                raise

    def execute(self, sql: str, params: Sequence[Any] = (), *, prepare: bool | None = None) -> Any:
        """Run one portable statement (``?`` placeholders); returns the cursor.

        ``prepare=False`` keeps PostgreSQL from preparing a statement whose plan depends
        on its values: after a few runs psycopg prepares a statement and the server may
        settle on a generic plan, and for ``key IN (500 parameters)`` on a table not yet
        analysed that plan scanned a whole county's index per batch (0.7 ms per event
        at 20,000 certificates) where the planned one hashes the list.
        """
        cur = self.conn.cursor()
        if self.dialect is POSTGRES:
            cur.execute(self._sql(sql), params, prepare=prepare)
        else:
            cur.execute(sql, params)
        return cur

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows = self.execute(sql, params).fetchall()
        if self.dialect is POSTGRES:
            self.conn.commit()  # end the read transaction psycopg opened
        return [tuple(r) for r in rows]

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.conn.cursor().executemany(self._sql(sql), rows)

    def _create(self) -> None:
        migrate(self)

    def lock_schema(self) -> None:
        """Begin the migration transaction, excluding other county processes."""
        self._begin()
        if self.dialect is POSTGRES:
            self.execute("SELECT pg_advisory_xact_lock(?)", [SCHEMA_LOCK_KEY])

    def unlock_schema(self, *, commit: bool) -> None:
        if commit:
            self._commit()
        else:
            self._rollback()

    @staticmethod
    def now() -> str:
        return _now()

    def store_batch(
        self,
        events: Sequence[Event],
        quarantined: Sequence[Quarantined] = (),
        states: Sequence[DeviceState] = (),
    ) -> int:
        """Store everything in one transaction and commit; returns how many events were new."""
        return self.store(events, quarantined, states).new

    def store(
        self,
        events: Sequence[Event],
        quarantined: Sequence[Quarantined] = (),
        states: Sequence[DeviceState] = (),
        alarms: Sequence[IntakeAlarm] = (),
    ) -> StoreResult:
        """Store everything in one transaction and commit.

        A redelivery (same id, same body) is a duplicate and stores nothing, so calling
        this twice with the same events is harmless. A known id with a *different* body
        is a conflict: that message is quarantined and alarmed, never dropped (after a
        kiosk database restore, say, the second body is a certificate the county must see).
        Each table gets one set-based statement per batch (``_insert_many``), not one per
        row: a PostgreSQL round trip per row capped the collector.

        Collectors sharing a PostgreSQL store lock rows in one order, so they wait for each
        other but do not deadlock: events (by id); device states and alarms (by key); the
        upkeep's advisory keys (sorted, ``rollups.lock_keys``), under which the projection
        and the rollup member rows are written; the rollup counters (sorted), last before
        the commit. A deadlock the server still detects (the same hold id from two
        conflicting events, say) is a fault: the collector retries the whole batch.
        """
        received = _now()
        result = StoreResult()
        quarantined = list(quarantined)
        alarms = list(alarms)
        self._begin()
        try:
            new = self._insert_events(events, received, result)
            for e in result.conflicts:
                reason = f"conflict: event {e.event_id} is already stored with another body"
                quarantined.append(Quarantined(f"{e.county}/{e.device}", reason,
                                               e.body.encode("utf-8")))  # fmt: skip
                alarms.append(IntakeAlarm(e.county, e.device, "event_conflict",
                                          f"{reason} (latest)"))  # fmt: skip
            self._executemany(
                "INSERT INTO quarantine (received_at, topic, reason, size, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (received, safe_text(q.topic), safe_text(q.reason), len(q.payload),
                     q.payload[:QUARANTINE_KEEP_BYTES])
                    for q in quarantined
                ],
            )  # fmt: skip
            self._executemany(
                "INSERT INTO device_state (county, device, status, software_version, "
                "config_version, backlog, state_time) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (county, device) DO UPDATE SET status = excluded.status, "
                "software_version = excluded.software_version, "
                "config_version = excluded.config_version, backlog = excluded.backlog, "
                "state_time = excluded.state_time "
                "WHERE excluded.state_time >= device_state.state_time",
                [
                    (s.county, s.device, s.status, s.software_version, s.config_version,
                     s.backlog, s.time)
                    for s in sorted(states, key=lambda s: (s.county, s.device))
                ],
            )  # fmt: skip
            self._record_alarms(alarms, received)
            # Last: the rollup counters every batch of a county adds to (its day, month
            # and year rows) stay locked to commit, and two collectors take turns there.
            with rollups.maintained(self, new):
                self._project(new)
        except BaseException:
            self._rollback()
            raise
        self._commit()
        result.new = len(new)
        return result

    def _insert_events(
        self, events: Sequence[Event], received: str, result: StoreResult
    ) -> list[Event]:
        """Insert the batch with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING
        RETURNING``; returns the new events in batch order and counts the others in
        ``result``: a duplicate (the stored body is the same) or a conflict (another
        body, or another id at the same device and seq)."""
        first: dict[tuple[str, str], Event] = {}
        for e in events:
            first.setdefault((e.county, e.event_id), e)
        inserted = self._insert_many(
            "events",
            EVENT_COLUMNS,
            [
                (e.county, e.device, e.seq, e.event_id, e.kind, e.schema, e.version, e.time,
                 received, e.body)
                # In key order: two collectors given the same events (redeliveries) wait
                # at the first they share instead of each holding one the other needs.
                for _key, e in sorted(first.items())
            ],
            returning="county, event_id",
        )  # fmt: skip
        new: list[Event] = []
        known: list[Event] = []
        for e in events:
            key = (e.county, e.event_id)
            if key in inserted:  # its first occurrence, the row inserted
                inserted.discard(key)
                new.append(e)
            else:
                known.append(e)
        stored = self._stored_bodies(known)
        for e in known:
            body = stored.get((e.county, e.event_id))
            if body is not None and _same_body(body, e.body):
                result.duplicates += 1
            else:
                result.conflicts.append(e)
        return new

    def _stored_bodies(self, events: Sequence[Event]) -> dict[tuple[str, str], str]:
        """The stored body of each of ``events``' ids, by (county, event id): one query
        per county and 500 ids (only batches with redeliveries ask)."""
        ids: dict[str, dict[str, None]] = {}
        for e in events:
            ids.setdefault(e.county, {})[e.event_id] = None
        found: dict[tuple[str, str], str] = {}
        for county, wanted in ids.items():
            unique = list(wanted)
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                cur = self.execute(
                    f"SELECT event_id, body FROM events WHERE county = ? AND event_id IN ({marks})",
                    [county, *chunk],
                    prepare=False,
                )
                found.update(((county, r[0]), r[1]) for r in cur.fetchall())
        return found

    def _insert_many(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        conflict: str = "ON CONFLICT DO NOTHING",
        returning: str = "",
    ) -> set[tuple[Any, ...]]:
        """Insert ``rows`` as a set: PostgreSQL COPYs them into a staging table and inserts
        from it (a few round trips per batch, not one per row); SQLite runs
        ``executemany`` in process. With ``returning``, both dialects stage and return
        those columns of the rows inserted (only ``INSERT ... SELECT`` says which rows
        ``ON CONFLICT DO NOTHING`` kept)."""
        if not rows:
            return set()
        names = ", ".join(columns)
        if self.dialect is SQLITE and not returning:
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows
            )
            return set()
        stage = self._stage(table, columns, rows)
        # WHERE true: SQLite would read ON CONFLICT after a bare SELECT as a join's ON.
        sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} WHERE true {conflict}"
        if not returning:
            self.execute(sql)
            return set()
        return {tuple(r) for r in self.execute(f"{sql} RETURNING {returning}").fetchall()}

    def _stage(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        name: str | None = None,
    ) -> str:
        """``name`` (default ``stage_<table>``), a temporary table of this connection
        shaped like ``columns`` of ``table``, holding just ``rows``: created once per
        connection, emptied by every commit on PostgreSQL (no DELETE round trip)."""
        stage = name or f"stage_{table}"
        names = ", ".join(columns)
        if stage not in self._stages:
            if self.dialect is POSTGRES:  # emptied by every commit: it never bloats
                self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                             f"AS SELECT {names} FROM {table} WITH NO DATA")  # fmt: skip
            else:
                self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
                             f"AS SELECT {names} FROM {table} WHERE false")  # fmt: skip
            self._stages.add(stage)
        if self.dialect is POSTGRES:
            with self.conn.cursor().copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.conn.execute(f"DELETE FROM {stage}")
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {stage} ({names}) VALUES ({marks})", rows)
        return stage

    def _record_alarms(self, alarms: Sequence[IntakeAlarm], now: str) -> None:
        merged: dict[tuple[str, str, str], IntakeAlarm] = {}
        for a in alarms:
            key = (safe_text(a.county, 16), safe_text(a.device, 32), a.code)
            known = merged.get(key)
            count = a.count + (known.count if known else 0)
            merged[key] = IntakeAlarm(*key, safe_text(a.message), count)
        self._executemany(
            "INSERT INTO intake_alarms (county, device, code, message, first_at, last_at, count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (county, device, code) DO UPDATE SET "
            "message = excluded.message, last_at = excluded.last_at, "
            "count = intake_alarms.count + excluded.count",
            [
                (a.county, a.device, a.code, a.message, now, now, a.count)
                for _key, a in sorted(merged.items())
            ],
        )

    def intake_alarms(self) -> list[tuple[str, str, str, str, str, str, int]]:
        """(county, device, code, message, first_at, last_at, count), latest first."""
        return [
            (r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]))
            for r in self.query(
                "SELECT county, device, code, message, first_at, last_at, count "
                "FROM intake_alarms ORDER BY last_at DESC"
            )
        ]

    def _project(self, events: Sequence[Event]) -> None:
        """Copy what reports need into plain columns (portable: no JSON functions)."""
        certs: list[tuple[Any, ...]] = []
        voids: list[tuple[Any, ...]] = []
        tests: list[tuple[Any, ...]] = []
        holds: list[tuple[Any, ...]] = []
        lifts: list[tuple[Any, ...]] = []
        sources: list[tuple[str, str, str]] = []
        for e in events:
            d = e.data
            if e.schema == "certificate.issued":
                certs.append(
                    (e.county, d["number"], e.device, e.event_id, d["issued_at"],
                     d["issued_at"][:10], d["township"], d["service_point"], d["product_code"],
                     d["product_name"], d["quantity"], d["unit"], d["basis"], d["producer_key"],
                     d["issuer_name"], d["issuer_phone"], d["origin"],
                     _to_json(d["inputs_used"]), d["test_ref"], d["style"])
                )  # fmt: skip
                sources.extend((e.county, d["number"], s) for s in _source_numbers(d))
            elif e.schema == "certificate.voided":
                voids.append((e.county, d["number"], d["reason"], e.time))
            elif e.schema == "rapidtest.result":
                tests.append(
                    (e.county, e.device, d["test_id"], d["finished_at"][:10], d["producer_key"],
                     d["product_code"], d["method"], d["analyte"], d["verdict"], d["retest_of"],
                     d["sample_id"], d.get("batch_id"))
                )  # fmt: skip
            elif e.schema == "hold.placed":
                holds.append(
                    (e.county, e.device, d["hold_id"], d["producer_key"], d["product_code"],
                     d["reason"], e.time)
                )  # fmt: skip
            elif e.schema == "hold.lifted":
                lifts.append((e.county, e.device, d["hold_id"], d["lifted_by"], e.time))
        self._insert_many("certificates", CERTIFICATE_COLUMNS, certs)
        self._insert_many("certificate_sources", ("county", "number", "source_number"), sources)
        self._insert_many("certificate_voids", ("county", "number", "reason", "voided_at"), voids)
        self._insert_many("rapid_tests", RAPID_TEST_COLUMNS, tests)
        self._insert_many("holds", ("county", "device", "hold_id", "producer_key", "product_code",
                                    "reason", "placed_at"), holds)  # fmt: skip
        self._insert_many(
            "hold_lifts", ("county", "device", "hold_id", "lifted_by", "lifted_at"), lifts
        )

    # ---- reading ---------------------------------------------------------------------

    def count_events(self) -> int:
        return self.query("SELECT count(*) FROM events")[0][0]

    def gaps(self) -> list[Gap]:
        """Missing seqs per device (a kiosk never skips one, so a gap is a loss or a delay)."""
        rows = self.query(
            "SELECT e.county, e.device, e.seq + 1, "
            "  (SELECT min(n.seq) FROM events n WHERE n.county = e.county "
            "   AND n.device = e.device AND n.seq > e.seq) - 1 "
            "FROM events e WHERE NOT EXISTS (SELECT 1 FROM events x WHERE x.county = e.county "
            "  AND x.device = e.device AND x.seq = e.seq + 1) "
            "AND e.seq < (SELECT max(m.seq) FROM events m WHERE m.county = e.county "
            "  AND m.device = e.device) "
            "UNION ALL "
            "SELECT county, device, 1, min(seq) - 1 FROM events GROUP BY county, device "
            "HAVING min(seq) > 1 "
            "ORDER BY 1, 2, 3"
        )
        return [Gap(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Leaving the block commits what ``execute`` wrote, on both dialects: SQLite
        autocommits each statement, and PostgreSQL must not silently roll back."""
        try:
            if not self._closed and self.dialect is POSTGRES:
                if exc_type is None:
                    self.conn.commit()
                else:
                    self.conn.rollback()
        finally:
            self.close()
