"""The kiosk's audit trail: an append-only, hash-chained log in the kiosk database.

Every row carries the SHA-256 of the previous row's hash and its own content, so
editing, deleting or reordering a row anywhere breaks the chain from there on and
``verify()`` names the first broken row. SQLite triggers refuse UPDATE and DELETE, so
the software itself cannot rewrite history; someone with the file and a SQLite shell
can, but not without the chain showing it (unless they recompute every later hash:
the head hash is therefore reported to the county in every diagnostics reply).

Services call ``AuditLog.append(kind, data)`` inside their own transaction, so the
audit row commits (or rolls back) with the act it records.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiosk.infra.store import Store

#: The "previous hash" of the first row: 64 zeros, so every row has the same form.
GENESIS_HASH = "0" * 64

#: Kinds used by the kiosk (free text is allowed, these are the agreed names).
KINDS = (
    "certificate.issued",
    "certificate.voided",
    "certificate.reprinted",
    "certificate.refused",
    "hold.placed",
    "hold.lifted",
    "login",
    "logout",
    "command.executed",
    "command.failed",
    "command.refused",
    "config.applied",
    "config.refused",
    "config.rolled_back",
    "trust.updated",
    "trust.refused",
    "enrollment",
    "keys.rotated",
)


#: The triggers that make the log append-only (first made by migration 0005). A restore
#: recreates them: a backup whose database had them dropped must not stay writable.
TRIGGERS = {
    "audit_log_no_update": "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "audit_log_no_delete": "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
}


def ensure_triggers(conn: sqlite3.Connection) -> list[str]:
    """Drop every trigger on ``audit_log`` and create the two canonical ones; returns
    the names of triggers that were missing or different (empty when all was well)."""
    found = dict(
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
        ).fetchall()
    )
    changed = sorted(
        {n for n in TRIGGERS if " ".join(str(found.get(n, "")).split()) != TRIGGERS[n]}
        | (set(found) - set(TRIGGERS))
    )
    with conn:
        for name in found:
            conn.execute(f'DROP TRIGGER "{name}"')
        for sql in TRIGGERS.values():
            conn.execute(sql)
    return changed


def verify_chain(conn: sqlite3.Connection) -> ChainReport:
    """Walk the whole chain of a database; the first row whose link or hash is wrong is
    reported."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    cursor = conn.execute("SELECT seq, at, kind, data, prev_hash, hash FROM audit_log ORDER BY seq")
    for seq, at, kind, data, prev_hash, digest in cursor:
        count += 1
        if seq != expected_seq:
            return ChainReport(False, count, prev, seq, f"row {expected_seq} is missing")
        if prev_hash != prev:
            return ChainReport(False, count, prev, seq, f"row {seq} does not link to row {seq - 1}")
        if entry_hash(prev, seq, at, kind, data) != digest:
            return ChainReport(
                False, count, prev, seq, f"row {seq} was altered (hash does not match)"
            )
        prev = digest
        expected_seq += 1
    return ChainReport(True, count, prev)


class AuditError(RuntimeError):
    """The audit log cannot be written."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    kind: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """What ``verify()`` found: ``ok``, how many rows, the head, and the first problem."""

    ok: bool
    rows: int
    head: str
    first_bad_seq: int | None = None
    problem: str = ""


def entry_hash(prev_hash: str, seq: int, at: str, kind: str, data_text: str) -> str:
    """SHA-256 over the previous hash and this row's fields, unambiguously separated."""
    material = json.dumps([prev_hash, seq, at, kind, data_text], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class AuditLog:
    """Append and verify; one instance per store connection."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def append(self, kind: str, data: dict[str, Any]) -> AuditEntry:
        """Add one row (inside the caller's transaction, or in its own)."""
        if not kind or len(kind) > 64:
            raise AuditError(f"audit kind must be 1..64 characters: {kind!r}")
        text = _canonical(data)
        with self.store.transaction():
            row = self.store.conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS_HASH)
            at = self.clock().isoformat()
            digest = entry_hash(prev, seq, at, kind, text)
            self.store.conn.execute(
                "INSERT INTO audit_log (seq, at, kind, data, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [seq, at, kind, text, prev, digest],
            )
        return AuditEntry(seq, at, kind, data, prev, digest)

    def head(self) -> str:
        row = self.store.conn.execute(
            "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else GENESIS_HASH

    def entries(self, *, kind: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` rows (optionally of one kind), oldest first."""
        sql = "SELECT seq, at, kind, data, prev_hash, hash FROM audit_log"
        params: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        rows = self.store.conn.execute(sql, params).fetchall()
        return [AuditEntry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in reversed(rows)]

    def verify(self) -> ChainReport:
        """Walk the whole chain; the first row whose link or hash is wrong is reported."""
        return verify_chain(self.store.conn)
