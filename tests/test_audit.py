"""The hash-chained audit log: appends chain, the database refuses edits, tampering shows."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store

CST = timezone(timedelta(hours=8))


def clock() -> datetime:
    return datetime(2026, 3, 2, 9, 30, tzinfo=CST)


def filled(path) -> Store:
    store = Store(path)
    log = AuditLog(store, clock)
    for n in range(5):
        log.append("certificate.issued", {"number": f"330100-K001-{n:06d}"})
    log.append("login", {"staff": "王工"})
    return store


def test_chain_verifies_and_software_cannot_edit(tmp_path) -> None:
    store = filled(tmp_path / "k.db")
    log = AuditLog(store, clock)
    report = log.verify()
    assert report.ok and report.rows == 6 and report.head == log.head()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("UPDATE audit_log SET data = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log WHERE seq = 6")
    store.close()


@pytest.mark.parametrize(
    ("edit", "bad_seq"),
    [
        ('UPDATE audit_log SET data = \'{"number":"X"}\' WHERE seq = 3', 3),
        ("DELETE FROM audit_log WHERE seq = 4", 5),
        ("UPDATE audit_log SET kind = 'login' WHERE seq = 1", 1),
    ],
)
def test_an_edit_with_a_sqlite_shell_is_detected(tmp_path, edit: str, bad_seq: int) -> None:
    filled(tmp_path / "k.db").close()
    raw = sqlite3.connect(tmp_path / "k.db")  # someone with the file and a shell
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("DROP TRIGGER audit_log_no_delete")
    raw.execute(edit)
    raw.commit()
    raw.close()
    with Store(tmp_path / "k.db") as store:
        report = AuditLog(store, clock).verify()
    assert not report.ok and report.first_bad_seq == bad_seq, report


def test_cli_audit_verify(tmp_path, capsys) -> None:
    import argparse

    from support.kiosk import configured

    from app.cli_provisioning import run_command

    config = configured(tmp_path / "data")
    filled(config.paths.database).close()
    args = argparse.Namespace(command="audit", audit_action="verify", json=False)
    assert run_command(args, config) == 0
    assert "6 entries" in capsys.readouterr().out
    raw = sqlite3.connect(config.paths.database)
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("UPDATE audit_log SET at = '2020-01-01T00:00:00+08:00' WHERE seq = 2")
    raw.commit()
    raw.close()
    assert run_command(args, config) == 1
    assert "row 2 was altered" in capsys.readouterr().err
