"""Issue 11 items 8 and 9, the county's side: exports and files on disk.

Every county CSV export makes formula cells inert (OWASP CSV injection); every file the
station creates that holds personal data or secrets is 0600 (or 0640) whatever the
caller's umask, also over an existing file; a symlink planted where a secret is written
is refused, not followed."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.uplink import DEPLOY, sample

from station.cli import main as station
from station.db import Database, Event
from station.enroll import BrokerAccounts

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = ['=HYPERLINK("http://x","点我")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most careless caller: umask 0 (every file the station makes would be 0666)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_station_report_csv_neutralises_formula_cells(tmp_path, capsys):
    db_path = tmp_path / "station.db"
    with Database(db_path) as db:
        events = []
        for seq, name in enumerate(FORMULAS, 1):
            kind, data = sample("certificate.issued", seq)
            data["product_name"] = name
            data["township"] = "=cmd|' /C calc'!A0" if seq == 1 else "示范镇"
            events.append(Event("330100", "K001", seq, f"K001:{seq}", kind, "certificate.issued",
                                1, data["issued_at"], data, "{}"))  # fmt: skip
        assert db.store_batch(events) == len(events)
    assert station(["report", "--db", str(db_path), "--csv", "--section", "certificates"]) == 0
    out = capsys.readouterr().out
    cells = [c for row in csv.reader(io.StringIO(out)) for c in row]
    for formula in [*FORMULAS, "=cmd|' /C calc'!A0"]:
        assert "'" + formula in cells, formula
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    # A CR inside a cell never starts a row of its own.
    rows = [r for r in csv.reader(io.StringIO(out)) if not r[0].startswith("#")]
    assert len(rows) == 1 + len(FORMULAS) and all(len(r) == 6 for r in rows), rows


def test_county_store_is_private_whatever_the_umask(tmp_path, open_umask):
    path = tmp_path / "county" / "station.db"
    with Database(path) as db:
        db.store_batch([])  # a write: the WAL and shared-memory files exist now
        for suffix in ("", "-wal", "-shm"):
            file = path.with_name(path.name + suffix)
            assert file.exists(), file
            assert _mode(file) == 0o600, (file, oct(_mode(file)))


def test_a_world_readable_county_store_is_tightened_on_open(tmp_path):
    path = tmp_path / "station.db"
    Database(path).close()
    os.chmod(path, 0o664)
    Database(path).close()
    assert _mode(path) == 0o640  # "other" and group-write taken away, group read kept


def test_make_acl_secrets_are_0600_over_an_existing_file(tmp_path, open_umask):
    accounts = tmp_path / "accounts"
    accounts.write_text("kiosk 330100/K001\nenroll enroll-330100 330100\n")
    secrets_file, passwd = tmp_path / "secrets.txt", tmp_path / "passwd"
    secrets_file.write_text("old\n")
    os.chmod(secrets_file, 0o644)
    passwd.write_text("")
    os.chmod(passwd, 0o666)
    subprocess.run(
        [sys.executable, str(DEPLOY / "make_acl.py"), str(accounts), "--out", str(tmp_path / "acl"),
         "--passwords", str(passwd), "--secrets", str(secrets_file)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert _mode(secrets_file) == 0o600 and "330100/K001 " in secrets_file.read_text()
    assert _mode(passwd) == 0o600


def test_make_acl_refuses_a_symlink_planted_at_the_secrets_path(tmp_path):
    accounts = tmp_path / "accounts"
    accounts.write_text("kiosk 330100/K001\n")
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (tmp_path / "secrets.txt").symlink_to(victim)
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "make_acl.py"), str(accounts), "--out", str(tmp_path / "acl"),
         "--passwords", str(tmp_path / "passwd"), "--secrets", str(tmp_path / "secrets.txt")],
        capture_output=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert victim.read_text() == "keep me\n"


def test_enrollment_service_password_file_is_never_world_readable(tmp_path, open_umask):
    files = tmp_path / "broker"
    files.mkdir()
    (files / "accounts").write_text("enroll enroll-330100 330100\n")
    accounts = BrokerAccounts(files / "accounts", files / "acl", files / "passwd",
                              acl_base=DEPLOY / "acl.base", reload=None)  # fmt: skip
    accounts.add_kiosk("330100/K001")
    assert _mode(files / "passwd") == 0o600
    assert _mode(files / "accounts") == 0o600
    assert _mode(files / "acl") == 0o640


def test_enrollment_code_png_is_private(tmp_path, open_umask):
    png = tmp_path / "code.png"
    db = str(tmp_path / "station.db")
    assert station(["devices", "enroll-code", "--db", db, "--county", "330100",
                    "--township", "示范镇", "--qr-png", str(png)]) == 0  # fmt: skip
    assert png.read_bytes().startswith(b"\x89PNG")
    assert _mode(png) == 0o600


def test_county_signing_key_is_private_and_its_directory_synced(tmp_path, open_umask):
    key = tmp_path / "keys" / "county.pem"
    key.parent.mkdir()
    assert station(["trust", "new-key", str(key)]) == 0
    assert _mode(key) == 0o600
    assert not [p for p in key.parent.iterdir() if p.name.endswith(".tmp")]
