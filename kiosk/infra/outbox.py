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

from kiosk.infra.floors import FloorFile
from kiosk.infra.numbering import EVENT_COUNTER, floors_before_commit, floors_beside
from kiosk.infra.store import Store, StoreError
from wire.events import Event, envelope
from wire.topics import EVENT_TOPICS

log = logging.getLogger(__name__)

#: Rows fetched per read: the backlog may be far larger than memory, so it is paged.
PAGE_SIZE = 500
#: Acknowledged rows deleted per transaction while purging, so a purge of a month
#: of events never holds the write lock long enough to delay a certificate.
PURGE_CHUNK = 2000


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
        self,
        store: Store,
        county: str,
        device_id: str,
        clock: Callable[[], datetime],
        floors: FloorFile | None = None,
    ) -> None:
        self.store = store
        self.county = county
        self.device_id = device_id
        self.clock = clock
        #: The floors file beside the database (kiosk/infra/numbering.py).
        self.floors = floors or floors_beside(store)
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

    def enqueue(self, event: Event) -> str:
        """Add an event (built by its ``wire.events`` builder) inside the caller's
        transaction; returns its id."""
        if event.kind not in EVENT_TOPICS:
            raise ValueError(f"unknown event kind {event.kind!r}")
        if not self.store.conn.in_transaction:
            raise StoreError("events are enqueued inside the transaction of their record")
        # Above every id handed out before, also when the database is an older copy.
        seq = self.store.advance_counter(EVENT_COUNTER, at_least=self.floors.read().event)
        # One write of both floors before the commit (shared with the certificate's).
        floors_before_commit(self.store, self.floors)
        now = self.clock()
        doc = envelope(event, county=self.county, device=self.device_id, seq=seq, time=now)
        self.store.conn.execute(
            "INSERT INTO outbox (seq, event_id, kind, schema, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [seq, doc["id"], event.kind, event.schema, json.dumps(doc, ensure_ascii=False),
             doc["time"]],
        )  # fmt: skip
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback()
            except Exception:  # a broken listener must not fail a certificate
                log.exception("outbox listener failed")
        return doc["id"]

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

    def outgoing(self, after_seq: int, limit: int = PAGE_SIZE) -> list[tuple[int, str, bytes]]:
        """The uplink's read: ``(seq, kind, body)`` of the next unacknowledged rows.

        One query per window of rows; the body comes back as bytes (what paho sends),
        so the drain neither builds an ``OutboxRow`` nor encodes text per event.
        """
        return self.store.conn.execute(
            "SELECT seq, kind, CAST(body AS BLOB) FROM outbox "
            "WHERE state IN ('pending', 'sent') AND seq > ? ORDER BY seq LIMIT ?",
            [after_seq, limit],
        ).fetchall()

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
        """The uplink's bookkeeping for a batch of broker answers, in one transaction.

        ``acked``: PUBACK below 0x80 (the county has them). ``sent``: published and
        answered without being taken (0x10 no subscriber, a refusal); they stay
        unacknowledged and are resent. Rows are written only once the broker answered,
        so a drain costs one UPDATE per batch, not two per event.
        """
        if not sent and not acked:
            return
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
                    "UPDATE outbox SET state = 'acked', acked_at = ?, last_error = NULL, "
                    "sent_at = coalesce(sent_at, ?), attempts = attempts + 1 "
                    f"WHERE state != 'acked' AND seq IN ({','.join('?' * len(chunk))})",
                    [now, now, *chunk],
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


#: SQLite's default limit on bound parameters is 999 in older builds; stay below it.
_MAX_PARAMS = 900


def _chunks(seqs: Sequence[int]) -> list[Sequence[int]]:
    return [seqs[i : i + _MAX_PARAMS] for i in range(0, len(seqs), _MAX_PARAMS)]
