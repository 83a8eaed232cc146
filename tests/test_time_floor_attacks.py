"""Red-team attacks on the clock floor after it moved into the certificate's transaction
(e865b0d): with the floor file rewritten only once the floor moved by 60 s, an older
database put back let the kiosk date a certificate a minute before one it had issued."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from kiosk.infra.store import Store
from kiosk.infra.timetrust import FLOOR_SLACK_S, SimulatedTimeSource, TimeTrust
from wire.clock import CST

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=CST)


def _judge(tmp_path: Path, store: Store) -> TimeTrust:
    source = SimulatedTimeSource(tmp_path / "sim.json", boot=lambda: ("boot-1", 60.0))
    source.set(synchronized=True)
    return TimeTrust(tmp_path, source, store=store)


def test_an_older_database_put_back_cannot_date_a_certificate_before_the_newest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "kiosk.db"
    store = Store(db)
    judge = _judge(tmp_path, store)
    with store.transaction():
        judge.raise_floor(T0)  # certificate 1
    store.close()
    shutil.copy(db, tmp_path / "backup.db")  # the backup, taken now
    store = Store(db)
    judge = _judge(tmp_path, store)
    newest = T0 + timedelta(minutes=1)  # certificates are dated to the minute
    with store.transaction():
        judge.raise_floor(newest)  # certificate 2, the next minute
    store.close()
    shutil.copy(tmp_path / "backup.db", db)  # the older database is put back
    store = Store(db)
    judge = _judge(tmp_path, store)
    clock_back = newest - timedelta(seconds=FLOOR_SLACK_S + 30)  # 35 s before certificate 2
    assert not judge.assess(clock_back).trusted, "certificate 3 would be dated before 2"
