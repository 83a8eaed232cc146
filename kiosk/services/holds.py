"""Holds: a confirmed positive blocks certificates for that producer and product.

Only the county lifts a hold (a signed remote command, or the trust topic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kiosk.infra.audit import AuditLog
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.services.producers import producer_keys
from wire import events


@dataclass(frozen=True)
class Hold:
    id: int
    producer_key: str
    product_code: str
    reason: str
    source: str | None
    placed_at: str
    lifted_at: str | None = None


class HoldRegistry:
    """The kiosk's own holds (``HoldService``): placed by a confirmed positive, lifted
    only by the county."""

    def __init__(
        self, store: Store, outbox: Outbox, audit: AuditLog, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.audit = audit
        self.clock = clock

    def is_held(self, producer_key: str, product_code: str) -> Hold | None:
        """The open hold on this producer and product, whatever identifier it was placed
        on: the producer id or any phone the producer has bound (``producer_keys``).
        Product ``*`` holds every product of the producer. This is the one question
        issuance and the county-wide holds ask of the kiosk's own holds."""
        keys = sorted(producer_keys(self.store, producer_key))
        marks = ", ".join("?" for _ in keys)
        row = self.store.conn.execute(
            "SELECT id, producer_key, product_code, reason, source, placed_at, lifted_at "
            f"FROM holds WHERE producer_key IN ({marks}) AND product_code IN (?, '*') "
            "AND lifted_at IS NULL ORDER BY id LIMIT 1",
            [*keys, product_code],
        ).fetchone()
        return Hold(*row) if row else None

    def active(self, producer_key: str, product_code: str) -> Hold | None:
        row = self.store.conn.execute(
            "SELECT id, producer_key, product_code, reason, source, placed_at, lifted_at "
            "FROM holds WHERE producer_key = ? AND product_code = ? AND lifted_at IS NULL "
            "ORDER BY id LIMIT 1",
            [producer_key, product_code],
        ).fetchone()
        return Hold(*row) if row else None

    def open_holds(self) -> list[Hold]:
        rows = self.store.conn.execute(
            "SELECT id, producer_key, product_code, reason, source, placed_at, lifted_at "
            "FROM holds WHERE lifted_at IS NULL ORDER BY id"
        ).fetchall()
        return [Hold(*r) for r in rows]

    def place(self, producer_key: str, product_code: str, reason: str, source: str) -> Hold:
        """Put a hold (inside or outside a transaction); the county is told in the same one."""
        with self.store.transaction():
            existing = self.active(producer_key, product_code)
            if existing:
                return existing
            now = self.clock().isoformat()
            cursor = self.store.conn.execute(
                "INSERT INTO holds (producer_key, product_code, reason, source, placed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [producer_key, product_code, reason, source, now],
            )
            assert cursor.lastrowid is not None  # an INSERT into a rowid table
            hold = Hold(cursor.lastrowid, producer_key, product_code, reason, source, now)
            event = events.hold_placed(
                hold_id=hold.id,
                producer_key=producer_key,
                product_code=product_code,
                reason=reason,
                source=source,
            )
            self.outbox.enqueue(event)
            self.audit.append("hold.placed", dict(event.data))
            return hold

    def lift(self, hold_id: int, lifted_by: str) -> bool:
        with self.store.transaction():
            now = self.clock().isoformat()
            changed = self.store.conn.execute(
                "UPDATE holds SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL",
                [now, lifted_by, hold_id],
            ).rowcount
            if changed:
                event = events.hold_lifted(hold_id=hold_id, lifted_by=lifted_by)
                self.outbox.enqueue(event)
                self.audit.append("hold.lifted", dict(event.data))
            return bool(changed)


#: The name other services use for the kiosk's holds (``HoldService.is_held``).
HoldService = HoldRegistry
