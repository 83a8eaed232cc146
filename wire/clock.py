"""China Standard Time: the zone of every legal date the project writes (开具日期)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def china_time() -> datetime:
    """Now, in China Standard Time; services take a clock so tests can move it."""
    return datetime.now(CST)
