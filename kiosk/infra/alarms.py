"""The kiosk's alarms: raised once, cleared once, listed from one table.

Every part that notices a condition (printer, reader, uplink backlog, counters, rapid
tests) raises it here; this module writes the ``alarms`` row and the county's
``alarm.raised`` / ``alarm.cleared`` event in the caller's transaction, so the county's
picture and the kiosk's agree. Raising an alarm that is already open changes nothing
(a paper-out seen at every retry is one alarm); diagnostics read ``open()``.

It lives in infra, beside the outbox and the audit log, because infra's own uplink
raises the backlog alarm and every service raises the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from wire import events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alarm:
    id: int
    code: str
    subject: str
    severity: str
    message: str
    detail: dict[str, Any]
    raised_at: str
    cleared_at: str | None


class Alarms:
    def __init__(self, store: Store, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = clock

    def raise_(
        self,
        code: str,
        severity: str,
        message: str,
        detail: Mapping[str, Any] | None = None,
        *,
        subject: str = "",
    ) -> bool:
        """Open the alarm and tell the county; False when it was already open."""
        detail = dict(detail or {})
        event = events.alarm_raised(code=code, severity=severity, message=message, detail=detail)
        with self.store.transaction():
            if self._open_id(code, subject) is not None:
                return False
            self.store.conn.execute(
                "INSERT INTO alarms (code, subject, severity, message, detail, raised_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [code, subject, severity, message, json.dumps(detail, ensure_ascii=False),
                 self.clock().isoformat()],
            )  # fmt: skip
            self.outbox.enqueue(event)
        log.warning("alarm %s%s raised: %s", code, f" ({subject})" if subject else "", message)
        return True

    def clear(self, code: str, *, subject: str = "") -> bool:
        """Close the alarm and tell the county; False when it was not open."""
        event = events.alarm_cleared(code=code)
        with self.store.transaction():
            alarm_id = self._open_id(code, subject)
            if alarm_id is None:
                return False
            self.store.conn.execute(
                "UPDATE alarms SET cleared_at = ? WHERE id = ?",
                [self.clock().isoformat(), alarm_id],
            )
            self.outbox.enqueue(event)
        log.info("alarm %s%s cleared", code, f" ({subject})" if subject else "")
        return True

    def is_open(self, code: str, *, subject: str = "") -> bool:
        return self._open_id(code, subject) is not None

    def open(self) -> list[Alarm]:
        """What is wrong now, oldest first."""
        return self._select("WHERE cleared_at IS NULL ORDER BY id")

    def history(self, limit: int = 100) -> list[Alarm]:
        """Newest first, open and cleared."""
        return self._select("ORDER BY id DESC LIMIT ?", [limit])

    def _open_id(self, code: str, subject: str) -> int | None:
        row = self.store.conn.execute(
            "SELECT id FROM alarms WHERE code = ? AND subject = ? AND cleared_at IS NULL",
            [code, subject],
        ).fetchone()
        return None if row is None else int(row[0])

    def _select(self, tail: str, params: list[Any] | None = None) -> list[Alarm]:
        rows = self.store.conn.execute(
            "SELECT id, code, subject, severity, message, detail, raised_at, cleared_at "
            f"FROM alarms {tail}",
            params or [],
        ).fetchall()
        return [
            Alarm(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])
            for row in rows
        ]
