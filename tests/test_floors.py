"""Issue 17 item 4: both counter floors in one file, two slots written in place.

Real files, real SQLite, real kiosks. What must hold: a torn newer slot falls back to
the older one and no number committed before is reused; an upgraded kiosk keeps the
floors of its two former files; one transaction costs one fsync for both floors."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from support.kiosk import configured, request

from app.compose import open_kiosk
from kiosk.infra import floors as floors_module
from kiosk.infra.floors import (
    FLOOR_FILE,
    LEGACY_CERTIFICATE_FILE,
    LEGACY_EVENT_FILE,
    SLOT_SIZE,
    SLOT_STRIDE,
    FloorFile,
    Floors,
)
from kiosk.infra.numbering import COUNTER, EVENT_COUNTER
from wire import events


def _slot_offset(floors: Floors) -> int:
    return (floors.generation % 2) * SLOT_STRIDE


def _garble(path: Path, offset: int, length: int = SLOT_SIZE) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        inverted = bytes(255 - b for b in handle.read(length))
        handle.seek(offset)
        handle.write(inverted)


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copy(src, dst)


def test_slots_alternate_and_the_newest_valid_one_is_read(tmp_path: Path) -> None:
    file = FloorFile(tmp_path / FLOOR_FILE)
    first = file.raise_to(3, 7)
    assert (tmp_path / FLOOR_FILE).stat().st_mode & 0o777 == 0o600
    second = file.raise_to(5, 6)  # the event floor never goes down
    assert (second.certificate, second.event) == (5, 7)
    assert second.generation == first.generation + 1
    assert _slot_offset(second) != _slot_offset(first)
    assert file.raise_to(4, 7) == second  # nothing higher: no write, same generation
    assert file.read() == second


def test_a_torn_newer_slot_falls_back_to_the_older_one(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    file = FloorFile(tmp_path / FLOOR_FILE)
    older = file.raise_to(10, 20)
    newer = file.raise_to(11, 22)
    with open(tmp_path / FLOOR_FILE, "r+b") as handle:  # the write stopped half way
        handle.seek(_slot_offset(newer) + SLOT_SIZE // 2)
        handle.write(b"\0" * (SLOT_SIZE // 2))
    with caplog.at_level(logging.WARNING, logger="kiosk.infra.floors"):
        assert file.read() == older
    assert "torn or corrupt" in caplog.text
    healed = file.raise_to(11, 21)  # the next write goes over the torn slot
    assert healed.generation == older.generation + 1 and file.read() == healed
    assert _slot_offset(healed) == _slot_offset(newer)


def test_both_slots_bad_reads_zero_with_an_error_and_the_next_write_heals(
    tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    file = FloorFile(tmp_path / FLOOR_FILE)
    file.raise_to(10, 20)
    _garble(tmp_path / FLOOR_FILE, 0)
    _garble(tmp_path / FLOOR_FILE, SLOT_STRIDE)
    with caplog.at_level(logging.ERROR, logger="kiosk.infra.floors"):
        assert file.read() == Floors()
    assert "no valid slot" in caplog.text
    healed = file.raise_to(12, 3)
    assert file.read() == healed and (healed.certificate, healed.event) == (12, 3)


class _PowerCut(Exception):
    pass


def test_a_power_cut_tearing_the_floor_write_never_reuses_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write of certificate 4's floor is torn (and the transaction never commits);
    then a backup holding only certificate 1 is put back. The older slot still says 3:
    numbering goes on at 4, the county hears of the rollback."""
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
        kiosk.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(data / "kiosk.db", tmp_path / "backup.db")
        committed = [kiosk.issuance.issue(request()).certificate.seq for _ in range(2)]
        events_before = kiosk.store.counter(EVENT_COUNTER)
        good = FloorFile(data / FLOOR_FILE).read()
        assert good.certificate >= 3

        def torn_write(self: FloorFile, floors: Floors) -> None:
            record = floors_module.encode_slot(floors)
            with open(self.path, "r+b") as handle:
                handle.seek(_slot_offset(floors))
                handle.write(record[: SLOT_SIZE // 2] + b"\xff" * (SLOT_SIZE // 2))
            raise _PowerCut

        monkeypatch.setattr(FloorFile, "_write_slot", torn_write)
        with pytest.raises(_PowerCut):
            kiosk.issuance.issue(request())
        monkeypatch.undo()
        assert kiosk.store.counter(COUNTER) == 3, "the torn write's transaction committed"
    assert FloorFile(data / FLOOR_FILE).read() == good
    _copy_db(tmp_path / "backup.db", data / "kiosk.db")
    with open_kiosk(configured(data)) as kiosk:
        alarms = kiosk.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE body LIKE '%counter_restored%'"
        ).fetchone()[0]
        nxt = kiosk.issuance.issue(request()).certificate.seq
        event_ids = [r[0] for r in kiosk.store.conn.execute("SELECT seq FROM outbox")]
    assert alarms == 1
    assert nxt > max([1, *committed]) and nxt == 4
    assert max(event_ids) > events_before, "new events continue above every id sent"


def test_an_upgraded_kiosk_keeps_the_floors_of_its_two_former_files(tmp_path: Path) -> None:
    """The software before this file kept ``certificate-counter.floor`` and
    ``event-seq.floor``; here they are above the database (an older one was put back)."""
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
        events_now = kiosk.store.counter(EVENT_COUNTER)
    (data / FLOOR_FILE).unlink()
    (data / LEGACY_CERTIFICATE_FILE).write_text("41\n", "ascii")
    (data / LEGACY_EVENT_FILE).write_text(f"{events_now + 50}\n", "ascii")
    with open_kiosk(configured(data)) as kiosk:
        assert not (data / LEGACY_CERTIFICATE_FILE).exists()
        assert not (data / LEGACY_EVENT_FILE).exists()
        assert kiosk.numbers.read_floor() == 41
        assert kiosk.issuance.issue(request()).certificate.seq == 42
        assert kiosk.store.counter(EVENT_COUNTER) > events_now + 50
    assert (data / FLOOR_FILE).stat().st_mode & 0o777 == 0o600


def test_a_former_file_above_the_new_one_is_folded_in(tmp_path: Path) -> None:
    """Downgraded, issued with the old software, upgraded again: the maximum wins."""
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())
    (data / LEGACY_CERTIFICATE_FILE).write_text("30\n", "ascii")
    with open_kiosk(configured(data)) as kiosk:
        floors = FloorFile(data / FLOOR_FILE).read()
        assert floors.certificate == 30 and floors.event >= kiosk.store.counter(EVENT_COUNTER)
        assert kiosk.issuance.issue(request()).certificate.seq == 31
    assert not (data / LEGACY_CERTIFICATE_FILE).exists()


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fsync/fdatasync made from Python (SQLite's own are not counted), by path."""
    synced: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return synced


def test_one_transaction_costs_one_floor_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        kiosk.issuance.issue(request())  # the file exists from here on
        floor_file = str((data / FLOOR_FILE).resolve())
        synced = _count_syncs(monkeypatch)

        with kiosk.store.transaction():  # a number and two events: one write
            kiosk.numbers.next()
            kiosk.outbox.enqueue(events.certificate_printed(number="x", copies=1))
            kiosk.outbox.enqueue(events.certificate_printed(number="y", copies=1))
        assert synced == [floor_file]

        synced.clear()
        kiosk.issuance.issue(request())  # the certificate's transaction and its print's
        assert synced == [floor_file, floor_file]  # was six: two files, each fsync + dir

        synced.clear()
        with kiosk.store.transaction():  # advanced nothing: writes nothing
            kiosk.store.conn.execute("SELECT 1")
        assert synced == []
    floors = FloorFile(data / FLOOR_FILE).read()
    with open_kiosk(configured(data)) as kiosk:
        assert floors.certificate == kiosk.store.counter(COUNTER)
        assert floors.event == kiosk.store.counter(EVENT_COUNTER)
