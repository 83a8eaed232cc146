"""Backups: online snapshot, round trip, rotation, USB targets, and no reused numbers."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.kiosk import request
from support.printers import CountingPrinter

from app import cli
from app.compose import open_kiosk
from kiosk.config import SIGNING_KEY_FILE, load_config
from kiosk.infra import backup
from kiosk.infra.store import Store
from kiosk.services.kiosk import Kiosk
from wire.signing import SigningKey


def open_counting_kiosk(data_dir: Path) -> Kiosk:
    return open_kiosk(load_config(None, data_dir=data_dir), printer=CountingPrinter())


def issue(kiosk: Kiosk, count: int) -> list[str]:
    return [kiosk.issuance.issue(request()).certificate.number for _ in range(count)]


def seq(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


def test_restored_older_backup_does_not_reuse_certificate_numbers(tmp_path: Path):
    data, backups = tmp_path / "data", tmp_path / "backups"
    with open_counting_kiosk(data) as kiosk:
        first = issue(kiosk, 3)
        older = backup.create_backup(data, backups, device="K001")
        later = issue(kiosk, 2)  # issued after the backup: numbers 4 and 5 are out there
    assert [seq(n) for n in first + later] == [1, 2, 3, 4, 5]

    result = backup.restore_backup(older, data)
    assert result.backup_counter == 3
    assert result.floor == 5, "the floor must not move back to the backup's value"
    assert result.set_aside and (result.set_aside / backup.DATABASE_FILE).exists()

    with open_counting_kiosk(data) as kiosk:
        listed = {c.number for c in kiosk.issuance.list(limit=100)}
        assert listed == set(first), "the restored database is the older one"
        new = issue(kiosk, 2)
        alarms = kiosk.store.conn.execute(
            "SELECT count(*) FROM outbox WHERE body LIKE '%counter_restored%'"
        ).fetchone()[0]
    assert [seq(n) for n in new] == [6, 7]
    assert not set(new) & set(first + later)
    assert alarms == 1, "the county hears that an older backup was restored"


def test_restore_keeps_floor_from_current_database_when_floor_file_is_lost(tmp_path: Path):
    data, backups = tmp_path / "data", tmp_path / "backups"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
        older = backup.create_backup(data, backups)
        issue(kiosk, 3)
    (data / backup.FLOORS_FILE).unlink()  # a technician "cleaned up"
    result = backup.restore_backup(older, data)
    assert result.floor == 4
    with open_counting_kiosk(data) as kiosk:
        assert seq(issue(kiosk, 1)[0]) == 5


def _event_ids(kiosk: Kiosk) -> set[str]:
    return {r[0] for r in kiosk.store.conn.execute("SELECT event_id FROM outbox")}


def test_a_new_card_needs_the_countys_floors_and_then_never_reuses_a_number(tmp_path: Path):
    """The card died with its floors file; the backup predates the last certificates,
    which the county holds. Restoring onto a new card without the county's figures would
    hand out those numbers and event ids again (two certificates, one number): refused
    in plain words, nothing installed. With them, numbering continues above."""
    old, new_card, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    with open_counting_kiosk(old) as kiosk:
        issue(kiosk, 3)
        older = backup.create_backup(old, backups, device="K001")
        later = issue(kiosk, 2)  # at the county, not in the backup
        sent = _event_ids(kiosk)
        county_event = max(int(e.rsplit(":", 1)[1]) for e in sent)
    SigningKey.generate().save(new_card / "keys" / SIGNING_KEY_FILE)  # the new kiosk's key
    with pytest.raises(backup.BackupError, match="--county-floors"):
        backup.restore_backup(older, new_card, allow_foreign=True)
    assert not (new_card / backup.DATABASE_FILE).exists(), "nothing installed"
    # What `station devices show` reports for K001 (tests/test_station_devices.py).
    result = backup.restore_backup(
        older, new_card, allow_foreign=True, county_floors=(seq(later[-1]), county_event)
    )
    assert result.floor == 5
    with open_counting_kiosk(new_card) as kiosk:
        fresh = issue(kiosk, 2)
        new_events = _event_ids(kiosk) - sent
    assert [seq(n) for n in fresh] == [6, 7]
    assert new_events and not new_events & sent
    assert min(int(e.rsplit(":", 1)[1]) for e in new_events) > county_event


def test_lost_floors_beside_the_current_database_take_its_event_counter(tmp_path: Path):
    """Floors file deleted, the database still there: its counters stand in for it,
    event ids included (before, only the certificate counter did)."""
    data, backups = tmp_path / "data", tmp_path / "backups"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
        older = backup.create_backup(data, backups)
        issue(kiosk, 3)
        sent = _event_ids(kiosk)
    (data / backup.FLOORS_FILE).unlink()
    backup.restore_backup(older, data)
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
        assert not (_event_ids(kiosk) - sent) & sent
        newest = max(int(e.rsplit(":", 1)[1]) for e in _event_ids(kiosk))
    assert newest > max(int(e.rsplit(":", 1)[1]) for e in sent)


def test_a_new_card_started_once_still_needs_the_countys_floors(tmp_path: Path):
    """The installer starts the new card's kiosk once (its key, an empty database, a
    floors file at zero): those files know nothing of the old card's numbers, so their
    presence must not stand in for the county's figures (it did: the restore went
    through and numbering continued at the backup's counter, reusing 4 and 5)."""
    old, new_card, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    with open_counting_kiosk(old) as kiosk:
        issue(kiosk, 3)
        older = backup.create_backup(old, backups, device="K001")
        issue(kiosk, 2)  # 4 and 5: at the county, not in the backup
    open_counting_kiosk(new_card).close()
    assert (new_card / backup.DATABASE_FILE).exists()
    with pytest.raises(backup.BackupError, match="--county-floors"):
        backup.restore_backup(older, new_card, allow_foreign=True)
    assert not list(new_card.glob("pre-restore-*")), "nothing installed"
    backup.restore_backup(older, new_card, allow_foreign=True, county_floors=(5, 40))
    with open_counting_kiosk(new_card) as kiosk:
        assert [seq(n) for n in issue(kiosk, 1)] == [6]


def test_torn_floors_beside_an_emptied_database_need_the_countys_floors(tmp_path: Path):
    """The card's own key survived, but its floors file has no valid slot and its
    database is an empty file: neither knows a number, yet both exist (the restore went
    through and reused 4 and 5)."""
    data, backups = tmp_path / "data", tmp_path / "backups"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 3)
        older = backup.create_backup(data, backups, device="K001")
        issue(kiosk, 2)
    floors = data / backup.FLOORS_FILE
    floors.write_bytes(bytes(floors.stat().st_size))
    for suffix in ("-wal", "-shm"):
        (data / (backup.DATABASE_FILE + suffix)).unlink(missing_ok=True)
    (data / backup.DATABASE_FILE).write_bytes(b"")
    with pytest.raises(backup.BackupError, match="--county-floors"):
        backup.restore_backup(older, data)
    assert (data / backup.DATABASE_FILE).read_bytes() == b"", "nothing installed"
    backup.restore_backup(older, data, county_floors=(5, 40))
    with open_counting_kiosk(data) as kiosk:
        assert [seq(n) for n in issue(kiosk, 1)] == [6]


def test_a_card_image_older_than_the_backup_needs_the_countys_floors(tmp_path: Path):
    """Last month's card image put back, then last night's backup restored over it: the
    same key, valid floors, a readable database, all behind the backup (3 < 5). Taken
    as this card's counters, the numbers issued after the backup (6, 7) came again."""
    data, image, backups = tmp_path / "data", tmp_path / "image", tmp_path / "backups"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 3)
    shutil.copytree(data, image)
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 2)
        newer = backup.create_backup(data, backups, device="K001")
        assert [seq(n) for n in issue(kiosk, 2)] == [6, 7]
    shutil.rmtree(data)
    shutil.copytree(image, data)
    with pytest.raises(backup.BackupError, match="--county-floors"):
        backup.restore_backup(newer, data)
    backup.restore_backup(newer, data, county_floors=(7, 60))
    with open_counting_kiosk(data) as kiosk:
        assert [seq(n) for n in issue(kiosk, 1)] == [8]


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ((40, 5), "swapped"),  # CERTIFICATE:EVENT typed the wrong way round
        ((5, 10**13), "too large"),  # a floor never comes down: numbering would be spent
        ((2**64, 2**64), "too large"),
    ],
)
def test_implausible_county_floors_are_refused_before_anything_moves(
    tmp_path: Path, figures: tuple[int, int], message: str
):
    """Swapped figures keep the event floor below ids the county holds (reused ids, the
    county quarantining them); a huge one is never undone (events above 2**53 - 1 fail
    the county's schema, counters above 2**63 - 1 fail SQLite) and opens a gap no
    event will ever fill. Refused, and nothing written."""
    old, new_card, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    with open_counting_kiosk(old) as kiosk:
        issue(kiosk, 3)
        older = backup.create_backup(old, backups, device="K001")
    with pytest.raises(backup.BackupError, match=message):
        backup.restore_backup(older, new_card, allow_foreign=True, county_floors=figures)
    assert not (new_card / backup.DATABASE_FILE).exists()
    assert not (new_card / backup.FLOORS_FILE).exists()


def test_the_county_figures_name_the_kiosk_they_belong_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Another kiosk's figures, looked up by mistake, are lower for a busier kiosk and
    reused its numbers without a word (``--county-floors 1:9`` was all the CLI saw). The
    line station devices show prints names the kiosk; the CLI refuses another's, and a
    bare CERTIFICATE:EVENT."""
    old, new_card, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    with open_counting_kiosk(old) as kiosk:
        issue(kiosk, 3)
        older = backup.create_backup(old, backups, device="K001")
        issue(kiosk, 2)
    argv = ["--data-dir", str(new_card), "backup", "restore", "--from-other-device"]
    assert cli.main([*argv, "--county-floors", "330100/K002:1:9", str(older)]) == cli.EXIT_REFUSED
    assert "K002's figures" in capsys.readouterr().err
    assert not (new_card / backup.DATABASE_FILE).exists()
    with pytest.raises(SystemExit):  # a usage error
        cli.main([*argv, "--county-floors", "1:9", str(older)])
    assert cli.main([*argv, "--county-floors", "330100/K001:5:40", str(older)]) == cli.EXIT_OK
    with open_counting_kiosk(new_card) as kiosk:
        assert [seq(n) for n in issue(kiosk, 1)] == [6]


def test_backup_is_consistent_while_the_kiosk_writes(tmp_path: Path):
    data = tmp_path / "data"
    with Store(data / backup.DATABASE_FILE) as store:
        store.conn.execute("CREATE TABLE burst (id INTEGER PRIMARY KEY, pad TEXT)")
    SigningKey.generate().save(data / "keys" / SIGNING_KEY_FILE)  # backups are signed
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        with Store(data / backup.DATABASE_FILE) as store:
            while not stop.is_set():
                with store.transaction():
                    store.conn.execute("INSERT INTO burst (pad) VALUES (?)", ["x" * 2000])
                written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 50:
            time.sleep(0.01)
        made = [backup.create_backup(data, tmp_path / "b", device="K001") for _ in range(3)]
        during = written[0]
    finally:
        stop.set()
        thread.join()
    assert during > 50, "the writer was blocked by the backup"
    for path in made:
        info = backup.inspect_backup(path)  # checksums and PRAGMA integrity_check
        assert info.schema_version >= 1
        restore_dir = tmp_path / f"r-{path.name}"
        # Another data dir, a new card: the county says nothing was issued after it.
        backup.restore_backup(path, restore_dir, allow_foreign=True, county_floors=(0, 0))
        conn = sqlite3.connect(restore_dir / backup.DATABASE_FILE)
        rows = conn.execute("SELECT count(*), max(id) FROM burst").fetchone()
        conn.close()
        assert rows[0] == rows[1], "a torn snapshot: ids missing"
        assert 50 <= rows[0] <= written[0]


def test_restore_refuses_while_the_database_is_open(tmp_path: Path):
    data = tmp_path / "data"
    with open_counting_kiosk(data) as kiosk:
        made = backup.create_backup(data, tmp_path / "b")
        with pytest.raises(backup.BackupError, match="stop agriqs-kiosk"):
            backup.restore_backup(made, data)
        issue(kiosk, 1)  # still working


def test_damaged_or_foreign_backup_is_refused(tmp_path: Path):
    data = tmp_path / "data"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
    made = backup.create_backup(data, tmp_path / "b")
    raw = bytearray(gzip.decompress(made.read_bytes()))
    index = raw.find(b"SQLite format 3")
    raw[index + 5000] ^= 0xFF  # one flipped byte inside the database
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(backup.BackupError, match="checksum"):
        backup.restore_backup(damaged, data)
    foreign = tmp_path / "foreign.tar.gz"
    foreign.write_bytes(b"not a tar at all")
    with pytest.raises(backup.BackupError, match="cannot read backup"):
        backup.inspect_backup(foreign)
    # The refused restores changed nothing.
    with open_counting_kiosk(data) as kiosk:
        assert len(kiosk.issuance.list()) == 1


def test_scheduled_run_rotates_and_copies_to_usb(tmp_path: Path):
    data = tmp_path / "data"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
    stick = tmp_path / "stick"
    stick.mkdir()
    for _ in range(4):
        run = backup.run_backup(data, tmp_path / "local", device="K001", usb=[stick], keep_local=2)
        assert not run.errors
    assert len(backup.list_backups(tmp_path / "local")) == 2
    on_stick = backup.list_backups(stick / "agriqs-backups" / "K001")
    assert len(on_stick) == 4
    assert backup.inspect_backup(on_stick[-1]).counter == 1
    assert not list(stick.rglob("*.partial"))


def test_usb_targets_are_only_real_mounts(tmp_path: Path):
    media = tmp_path / "media"
    (media / "pi" / "STICK").mkdir(parents=True)
    (media / "agriqs-backup").mkdir()
    (media / "not-mounted").mkdir()
    mounts = {media / "pi" / "STICK", media / "agriqs-backup"}
    found = backup.usb_targets(roots=[media], is_mount=lambda p: p in mounts)
    assert set(found) == mounts


def test_rotation_order_follows_time_not_device_name(tmp_path: Path):
    data = tmp_path / "data"
    with open_counting_kiosk(data):
        pass
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for day in range(3):
        backup.create_backup(
            data, tmp_path / "b", device="K001", clock=lambda d=day: start + timedelta(days=d)
        )
    removed = backup.rotate(tmp_path / "b", keep=1)
    assert [p.name.split("-")[-1][:15] for p in removed] == ["20260101T000000", "20260102T000000"]


def test_backup_now_uses_the_configured_kiosk(tmp_path: Path):
    config = load_config(None, data_dir=tmp_path / "data")
    with open_kiosk(config, printer=CountingPrinter()) as kiosk:
        issue(kiosk, 2)
        run = backup.backup_now(config, usb=[])
    assert run.local and run.local.parent == tmp_path / "data" / "backups"
    assert config.device.device_id in run.local.name
    assert backup.inspect_backup(run.local).counter == 2


def test_backup_from_newer_software_is_not_restored(tmp_path: Path):
    data = tmp_path / "data"
    with open_counting_kiosk(data) as kiosk:
        issue(kiosk, 1)
    conn = sqlite3.connect(data / backup.DATABASE_FILE)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    newer = backup.create_backup(data, tmp_path / "b")
    with pytest.raises(backup.BackupError, match="newer than this software"):
        backup.restore_backup(newer, tmp_path / "other", allow_foreign=True)
    assert not (tmp_path / "other" / backup.DATABASE_FILE).exists()
