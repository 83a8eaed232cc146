"""Issue 11 item 4: backups signed and bound to their device, attacked with real files.

Before the defence (main at aa4ea2d): a backup with a lifted hold, replaced PIN hashes and
dropped audit triggers, its checksums recomputed, verified and restored and the audit
chain then said "intact"; a manifest with ``"files": {}`` skipped every check; another
device's backup restored; USB copies carried every PIN hash in clear.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from support.kiosk import configured, request
from support.printers import CountingPrinter

from app.compose import open_kiosk
from kiosk.infra import backup
from kiosk.services.kiosk import Kiosk
from kiosk.services.staff import SCRYPT_N, LoginRefused
from wire.sealed import new_recovery_key


def open_at(data: Path, device: str = "K001") -> Kiosk:
    return open_kiosk(configured(data, device={"device_id": device}), printer=CountingPrinter())


def tamper(original: Path, out: Path, change: Callable[[Path, dict], None]) -> Path:
    """Unpack ``original``, let ``change`` edit the files and the manifest, recompute the
    checksums as an attacker would, keep the old signature, and pack it again."""
    work = out.parent / (out.name + ".d")
    work.mkdir()
    with tarfile.open(original, "r:gz") as tar:
        tar.extractall(work, filter="data")
    manifest = json.loads((work / backup.MANIFEST_FILE).read_text())
    change(work, manifest)
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((work / name).read_bytes()).hexdigest()
    (work / backup.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(work.iterdir()):
            tar.add(path, arcname=path.name)
    return out


def doctor_database(work: Path, manifest: dict) -> None:
    conn = sqlite3.connect(work / backup.DATABASE_FILE)
    conn.execute("UPDATE holds SET lifted_at = '2026-01-01T00:00:00+08:00'")
    conn.execute("UPDATE staff_accounts SET pin_hash = 'scrypt$16384$8$1$00$00'")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.commit()
    conn.close()


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Path]:
    """A kiosk with a hold, a staff account and two certificates, and its backup."""
    data = tmp_path / "data"
    with open_at(data) as kiosk:
        kiosk.holds.place("K001-P000001", "V001", "阳性", "rapidtest")
        kiosk.staff.add("王芳", "staff", "314159", by="test")
        kiosk.issuance.issue(request())
        kiosk.issuance.issue(request())
        made = backup.create_backup(data, tmp_path / "b", device="K001")
    return data, made


def test_a_doctored_backup_with_recomputed_checksums_is_refused(made, tmp_path) -> None:
    data, original = made
    doctored = tamper(original, tmp_path / "doctored.tar.gz", doctor_database)
    with pytest.raises(backup.BackupError, match="not signed by this kiosk"):
        backup.restore_backup(doctored, data)
    with pytest.raises(backup.BackupError, match="does not verify"):
        backup.restore_backup(doctored, data, allow_foreign=True)
    with open_at(data) as kiosk:  # untouched
        assert kiosk.holds.open_holds() and kiosk.audit.verify().ok


def test_an_unsigned_backup_or_an_empty_file_list_is_refused(made, tmp_path) -> None:
    data, original = made

    def unsign(work: Path, manifest: dict) -> None:
        (work / backup.SIGNATURE_FILE).unlink()

    def no_files(work: Path, manifest: dict) -> None:
        doctor_database(work, manifest)
        manifest["files"] = {}

    with pytest.raises(backup.BackupError, match="not a signed kiosk backup"):
        backup.restore_backup(tamper(original, tmp_path / "u.tar.gz", unsign), data)
    with pytest.raises(backup.BackupError, match="must list exactly"):
        backup.restore_backup(tamper(original, tmp_path / "e.tar.gz", no_files), data)


def test_another_devices_backup_needs_the_flag_and_the_county_is_told(made, tmp_path) -> None:
    _, theirs = made
    mine = tmp_path / "mine"
    open_at(mine, "K002").close()
    with pytest.raises(backup.BackupError, match="--from-other-device"):
        backup.restore_backup(theirs, mine)
    # Signed by another key: this card's counters are not the ones that issued after it.
    with pytest.raises(backup.BackupError, match="--county-floors"):
        backup.restore_backup(theirs, mine, allow_foreign=True)
    backup.restore_backup(theirs, mine, allow_foreign=True, county_floors=(0, 0))
    with open_at(mine, "K002") as kiosk:
        (alarm,) = [a for a in kiosk.alarms.open() if a.code == "backup_restored"]
        assert alarm.detail["foreign"] is True and alarm.severity == "critical"
        assert kiosk.audit.entries()[-1].kind == "backup.restored"
    assert not (mine / backup.REPORT_FILE).exists()  # told once


def test_audit_triggers_dropped_before_a_backup_are_recreated_on_restore(made, tmp_path) -> None:
    data, _ = made
    conn = sqlite3.connect(data / backup.DATABASE_FILE)
    conn.execute("DROP TRIGGER audit_log_no_update")  # a shell on the kiosk, then a backup
    conn.execute("CREATE TRIGGER audit_log_no_update AFTER UPDATE ON audit_log BEGIN SELECT 1; END")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.close()
    signed = backup.create_backup(data, tmp_path / "b2", device="K001")
    backup.restore_backup(signed, data)
    conn = sqlite3.connect(data / backup.DATABASE_FILE)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET kind = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.close()
    with open_at(data) as kiosk:
        (alarm,) = [a for a in kiosk.alarms.open() if a.code == "backup_restored"]
        assert alarm.detail["audit_triggers_recreated"] == [
            "audit_log_no_delete", "audit_log_no_update"
        ]  # fmt: skip


def test_a_restore_reports_lifted_holds_changed_pins_and_counters(made, tmp_path) -> None:
    data, older = made
    with open_at(data) as kiosk:
        hold = kiosk.holds.place("K001-P000002", "V002", "阳性", "rapidtest")
        kiosk.staff.set_pin("王芳", "271828", by="test")
        kiosk.issuance.issue(request())
    backup.restore_backup(older, data)
    with open_at(data) as kiosk:
        (alarm,) = [a for a in kiosk.alarms.open() if a.code == "backup_restored"]
    assert alarm.detail["holds_lifted"] == [f"kiosk:{hold.id}"]
    assert alarm.detail["staff_changed"] == ["王芳"]
    assert any(c.startswith("certificate_seq 3->2") for c in alarm.detail["counters"])
    assert alarm.detail["foreign"] is False


def test_usb_copies_carry_no_pin_hash_unless_sealed_for_the_county(made, tmp_path) -> None:
    data, _ = made
    recovery = new_recovery_key(tmp_path / "county-recovery.pem")
    stick = tmp_path / "stick"
    stick.mkdir()
    with open_at(data) as kiosk:
        kiosk.producers.register("张秀英", "13812345678", "示范村", "2580")
    run = backup.run_backup(data, tmp_path / "local", device="K001", usb=[stick],
                            recovery_key=recovery)  # fmt: skip
    (copy,) = run.usb
    raw = b""
    with tarfile.open(copy, "r:gz") as tar:
        assert backup.SECRETS_FILE in tar.getnames()
        for member in tar.getmembers():
            raw += tar.extractfile(member).read()  # type: ignore[union-attr]  # files only
    assert f"scrypt${SCRYPT_N}$".encode() not in raw  # no staff nor producer PIN hash
    with tarfile.open(run.local, "r:gz") as tar:
        assert backup.SECRETS_FILE not in tar.getnames()  # the local copy stays whole
        local = tar.extractfile(backup.DATABASE_FILE).read()  # type: ignore[union-attr]
    assert f"scrypt${SCRYPT_N}$".encode() in local
    # Restored without the county's key: nobody logs in with the old PIN.
    backup.restore_backup(copy, data)
    with open_at(data) as kiosk, pytest.raises(LoginRefused):
        kiosk.staff.login("王芳", "314159", "staff")
    # With it: the PINs are back.
    backup.restore_backup(copy, data, recovery_key=tmp_path / "county-recovery.pem")
    with open_at(data) as kiosk:
        assert kiosk.staff.login("王芳", "314159", "staff").name == "王芳"
        assert kiosk.producers.login("13812345678", "2580") is not None


def test_backup_files_are_private_whatever_the_umask(made, tmp_path) -> None:
    data, _ = made
    old = os.umask(0)
    try:
        made_now = backup.create_backup(data, tmp_path / "b3", device="K001")
    finally:
        os.umask(old)
    assert made_now.stat().st_mode & 0o777 == 0o600
