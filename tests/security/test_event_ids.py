"""Issue 11 item 10: nothing is lost across a restore.

Before: event ids (``{device}:{seq}``) restarted from an older database's counter, so a
certificate issued after restoring went out as ``K002:5``, the collector dropped it as a
duplicate of the earlier, different ``K002:5``, and the county never saw it; and
``counter_restored`` was raised only when more than one number was missing. Now event
seqs have a fsynced floor like certificate numbers, the alarm fires on any rollback,
and the collector quarantines a known id with another body as a conflict
(``test_intake_faults.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support.kiosk import configured, request

from app.compose import open_kiosk
from kiosk.infra.floors import FLOOR_FILE, FloorFile
from station.db import Database, Event


def _outbox(kiosk) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = kiosk.store.conn.execute("SELECT event_id, body FROM outbox ORDER BY seq").fetchall()
    return [(r[0], r[1]) for r in rows]


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copy(src, dst)


def _to_station(url: Path, bodies: list[str]) -> tuple[int, int]:
    """Store the kiosk's events as the collector does: (new, conflicts)."""
    events = []
    for body in bodies:
        doc = json.loads(body)
        events.append(Event(doc["county"], doc["device"], doc["seq"], doc["id"],
                            "alarm" if doc["schema"].startswith(("alarm", "hold")) else
                            doc["schema"].split(".")[0], doc["schema"], doc["version"],
                            doc["time"], doc["data"], body))  # fmt: skip
    with Database(url) as db:
        result = db.store(events)
    return result.new, len(result.conflicts)


def test_an_older_database_put_back_never_reuses_an_event_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
        kiosk.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(data / "kiosk.db", tmp_path / "backup.db")
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())  # one certificate after the backup
        before = _outbox(kiosk)
    _copy_db(tmp_path / "backup.db", data / "kiosk.db")  # put the older database back

    with open_kiosk(configured(data)) as kiosk:
        alarms = [b for _, b in _outbox(kiosk) if "counter_restored" in b]
        kiosk.issuance.issue(request())
        after = _outbox(kiosk)
    assert len(alarms) == 1, "one certificate rolled back is a rollback: the county hears"
    top = max(int(i.split(":")[1]) for i, _ in before)
    fresh = [i for i, _ in after if int(i.split(":")[1]) > top]
    # Every id the restored kiosk holds is an old event the backup kept (the same body)
    # or a new one above every id ever sent: never an old id with a new body.
    old = dict(before)
    assert all(old[i] == b for i, b in after if i in old), "an old id with a new body"
    assert fresh

    # At the county: everything the kiosk ever sent is stored, nothing conflicts.
    station = tmp_path / "station.db"
    stored_first, conflicts_first = _to_station(station, [b for _, b in before])
    stored_then, conflicts_then = _to_station(station, [b for _, b in after])
    assert (conflicts_first, conflicts_then) == (0, 0)
    assert stored_first == len(before) and stored_then == len(fresh)


def test_the_event_floor_is_written_before_the_commit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
        last = kiosk.store.counter("event_seq")
    floor = FloorFile(data / FLOOR_FILE).read().event
    assert floor >= last > 0
    assert (data / FLOOR_FILE).stat().st_mode & 0o777 == 0o600
