"""The outbox: every event for the county, written in the same transaction as its record.

The SQLite outbox, not the MQTT client's memory, is the source of truth for what
the county has yet to receive. Each event gets a stable id ``{device}:{seq}``
from a per-device counter, so the county can store it exactly once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kiosk.infra.store import Store, StoreError

log = logging.getLogger(__name__)

#: Topic suffix under ``{prefix}/{county}/{device}/`` for each event kind.
EVENT_TOPICS = {
    "certificate": "evt/certificate",
    "rapidtest": "evt/rapidtest",
    "alarm": "evt/alarm",
}
ENVELOPE_VERSION = 1

#: Rows fetched per read: the backlog may be far larger than memory, so it is paged.
PAGE_SIZE = 500
#: Acknowledged rows deleted per transaction while purging, so a purge of a month
#: of events never holds the write lock long enough to delay a certificate.
PURGE_CHUNK = 2000
#: The backlog alarm is cleared once the backlog falls to this fraction of the
#: threshold; hysteresis keeps a backlog hovering at the threshold from flapping.
BACKLOG_CLEAR_RATIO = 0.5
_BACKLOG_ALARM_KEY = "backlog_alarm"


@dataclass(frozen=True)
class OutboxRow:
    """One event as the uplink sends it: ``body`` is the envelope's JSON text."""

    seq: int
    event_id: str
    kind: str
    body: str
    state: str


def utc_now_iso() -> str:
    """Bookkeeping times (sent/acked) are UTC so purging can compare them as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Outbox:
    """Writes events; the uplink (kiosk/infra/uplink.py) reads and acknowledges them."""

    def __init__(
        self, store: Store, county: str, device_id: str, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.county = county
        self.device_id = device_id
        self.clock = clock
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each enqueue (the uplink's wake-up).

        It runs inside the caller's transaction, before the commit, so a listener
        must not expect to see the row at once (the uplink re-reads briefly).
        """
        with self._listeners_lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with self._listeners_lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def enqueue(self, kind: str, schema: str, data: dict[str, Any], *, version: int = 1) -> str:
        """Add an event inside the caller's transaction; returns its id."""
        if kind not in EVENT_TOPICS:
            raise ValueError(f"unknown event kind {kind!r}")
        if not self.store.conn.in_transaction:
            raise StoreError("events are enqueued inside the transaction of their record")
        seq = self.store.advance_counter("event_seq")
        event_id = f"{self.device_id}:{seq}"
        now = self.clock().isoformat()
        envelope = {
            "id": event_id,
            "schema": schema,
            "version": version,
            "envelope": ENVELOPE_VERSION,
            "county": self.county,
            "device": self.device_id,
            "seq": seq,
            "time": now,
            "data": data,
        }
        self.store.conn.execute(
            "INSERT INTO outbox (seq, event_id, kind, schema, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [seq, event_id, kind, schema, json.dumps(envelope, ensure_ascii=False), now],
        )
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback()
            except Exception:  # a broken listener must not fail a certificate
                log.exception("outbox listener failed")
        return event_id

    def backlog(self) -> int:
        """Events the county has not acknowledged yet (pending or sent)."""
        return self.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')"
        ).fetchone()[0]

    def page(self, after_seq: int = 0, limit: int = PAGE_SIZE) -> list[OutboxRow]:
        """Unacknowledged events after ``after_seq`` in seq order, one page at a time."""
        rows = self.store.conn.execute(
            "SELECT seq, event_id, kind, body, state FROM outbox "
            "WHERE state IN ('pending', 'sent') AND seq > ? ORDER BY seq LIMIT ?",
            [after_seq, limit],
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def mark_sent(self, seqs: Sequence[int]) -> None:
        """Record a transmission attempt; a ``sent`` row is resent until acknowledged."""
        if not seqs:
            return
        now = utc_now_iso()
        with self.store.transaction():
            self.store.conn.executemany(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 "
                "WHERE seq = ? AND state != 'acked'",
                [(now, seq) for seq in seqs],
            )

    def mark_acked(self, seqs: Iterable[int]) -> int:
        """The broker accepted these events (PUBACK < 0x80); returns rows changed."""
        now = utc_now_iso()
        params = [(now, seq) for seq in seqs]
        if not params:
            return 0
        with self.store.transaction():
            before = self.store.conn.total_changes
            self.store.conn.executemany(
                "UPDATE outbox SET state = 'acked', acked_at = ?, last_error = NULL "
                "WHERE seq = ? AND state != 'acked'",
                params,
            )
            return self.store.conn.total_changes - before

    def record(self, sent: Sequence[int], acked: Sequence[int]) -> None:
        """``mark_sent`` and ``mark_acked`` in one transaction: one fsync per uplink cycle."""
        now = utc_now_iso()
        conn = self.store.conn
        with self.store.transaction():
            for chunk in _chunks(sent):
                conn.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 "
                    f"WHERE state != 'acked' AND seq IN ({','.join('?' * len(chunk))})",
                    [now, *chunk],
                )
            for chunk in _chunks(acked):
                conn.execute(
                    "UPDATE outbox SET state = 'acked', acked_at = ?, last_error = NULL "
                    f"WHERE state != 'acked' AND seq IN ({','.join('?' * len(chunk))})",
                    [now, *chunk],
                )

    def mark_refused(self, seq: int, reason: str) -> None:
        """The broker refused the event; it stays unacknowledged and keeps the reason."""
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE outbox SET last_error = ? WHERE seq = ?", [reason[:500], seq]
            )

    def purge_acked(self, older_than: datetime) -> int:
        """Delete acknowledged rows acknowledged before ``older_than``; returns the count."""
        cutoff = older_than.astimezone(UTC).isoformat(timespec="milliseconds")
        total = 0
        while True:
            with self.store.transaction():
                deleted = self.store.conn.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
                    "WHERE state = 'acked' AND acked_at < ? LIMIT ?)",
                    [cutoff, PURGE_CHUNK],
                ).rowcount
            total += deleted
            if deleted < PURGE_CHUNK:
                return total

    def check_backlog(self, threshold: int) -> str | None:
        """Raise ``alarm.raised`` (code backlog) once per crossing of ``threshold``.

        Returns "raised", "cleared" or None. The raised/cleared flag is stored, so a
        restart does not repeat the alarm.
        """
        if threshold <= 0 or not self._backlog_alarm_due(threshold):
            return None  # the common case reads only, without taking the write lock
        with self.store.transaction():
            backlog = self.backlog()
            raised = self._backlog_alarm_raised()
            if not raised and backlog > threshold:
                self._set_state(_BACKLOG_ALARM_KEY, "1")
                self.enqueue(
                    "alarm",
                    "alarm.raised",
                    {
                        "code": "backlog",
                        "severity": "warning",
                        "message": f"{backlog} events wait for the county (threshold {threshold})",
                        "detail": {"backlog": backlog, "threshold": threshold},
                    },
                )
                return "raised"
            if raised and backlog <= threshold * BACKLOG_CLEAR_RATIO:
                self._set_state(_BACKLOG_ALARM_KEY, "0")
                self.enqueue("alarm", "alarm.cleared", {"code": "backlog"})
                return "cleared"
        return None

    def _backlog_alarm_raised(self) -> bool:
        row = self.store.conn.execute(
            "SELECT value FROM uplink_state WHERE name = ?", [_BACKLOG_ALARM_KEY]
        ).fetchone()
        return bool(row and row[0] == "1")

    def _backlog_alarm_due(self, threshold: int) -> bool:
        backlog = self.backlog()
        if self._backlog_alarm_raised():
            return backlog <= threshold * BACKLOG_CLEAR_RATIO
        return backlog > threshold

    def _set_state(self, name: str, value: str) -> None:
        self.store.conn.execute(
            "INSERT INTO uplink_state (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [name, value],
        )


#: SQLite's default limit on bound parameters is 999 in older builds; stay below it.
_MAX_PARAMS = 900


def _chunks(seqs: Sequence[int]) -> list[Sequence[int]]:
    return [seqs[i : i + _MAX_PARAMS] for i in range(0, len(seqs), _MAX_PARAMS)]
