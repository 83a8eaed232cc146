"""The outbox: every event for the county, written in the same transaction as its record.

The SQLite outbox, not the MQTT client's memory, is the source of truth for what
the county has yet to receive. Each event gets a stable id ``{device}:{seq}``
from a per-device counter, so the county can store it exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kiosk.store import Store, StoreError

#: Topic suffix under ``{prefix}/{county}/{device}/`` for each event kind.
EVENT_TOPICS = {
    "certificate": "evt/certificate",
    "rapidtest": "evt/rapidtest",
    "alarm": "evt/alarm",
}
ENVELOPE_VERSION = 1


class Outbox:
    """Writes events; the uplink (kiosk/uplink.py) reads and acknowledges them."""

    def __init__(
        self, store: Store, county: str, device_id: str, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.county = county
        self.device_id = device_id
        self.clock = clock

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
        return event_id

    def backlog(self) -> int:
        return self.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE state != 'acked'"
        ).fetchone()[0]
