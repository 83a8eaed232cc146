"""What the county tells a technician restoring a kiosk's backup onto a new card: the
highest certificate sequence and event seq it holds from that kiosk (``station devices
show``), so the restored kiosk continues above them (kiosk/infra/backup.py; the kiosk
half is tests/test_backup.py). On both stores: numbers past 9,999,999 have eight digits
and must not sort below shorter ones, and another kiosk's numbers never count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.uplink import fixed_clock, sample

from station import cli as station_cli
from station import devices
from station.db import Database
from station.intake import parse_event
from wire.events import schema_book
from wire.signing import SigningKey
from wire.topics import PREFIX, event_topic, parse_topic


def _event(device: str, seq: int, number_seq: int, number: str | None = None) -> object:
    _, data = sample("certificate.issued", number_seq, device)
    data["number"] = number or data["number"]
    doc = {"id": f"{device}:{seq}", "schema": "certificate.issued", "version": 1,
           "envelope": 1, "county": "330100", "device": device, "seq": seq,
           "time": fixed_clock().isoformat(), "data": data}  # fmt: skip
    topic = parse_topic(event_topic(PREFIX, "330100", device, "certificate"), PREFIX)
    return parse_event(schema_book(), topic, json.dumps(doc, ensure_ascii=False).encode())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "county.db")
    return str(request.getfixturevalue("pg_url"))


def test_the_county_reports_a_kiosks_highest_numbers(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Database(store_url) as db:
        assert devices.highest_used(db, "330100", "K001") == (0, 0)
        mine = [_event("K001", 1, 9_999_999), _event("K001", 2, 10_000_000), _event("K001", 7, 99)]
        db.store_batch([*mine, _event("K002", 40, 20_000_000)])
        assert devices.highest_used(db, "330100", "K001") == (10_000_000, 7)
        key = SigningKey.generate().public_b64
        devices.register_device(db, "330100", "K001", "示范镇", "示范镇服务点", key,
                                devices.now_utc())  # fmt: skip
        if db.dialect.placeholder == "%s":
            db.conn.commit()
    code = station_cli.main(["devices", "show", "330100/K001", "--db", store_url])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert shown["restore_floors"] == {
        "certificate": 10_000_000,
        "event": 7,
        "kiosk_backup_restore": "--county-floors 330100/K001:10000000:7",
    }


def test_a_number_without_a_numeric_suffix_is_skipped_not_fatal(store_url: str) -> None:
    """The county checks only a number's ``county-device-`` prefix: a kiosk that sent
    ``330100-K001-TEST-0001`` (longest, so sorted first) made ``highest_used``, and with
    it ``station devices show``, raise ValueError; the figure is the highest numeric one."""
    with Database(store_url) as db:
        db.store_batch([
            _event("K001", 1, 99),
            _event("K001", 2, 100, number="330100-K001-TEST-0001x"),
            _event("K001", 3, 101, number="330100-K001-0000042"),
        ])  # fmt: skip
        assert devices.highest_used(db, "330100", "K001") == (99, 3)


def test_a_number_only_in_a_quarantined_conflict_counts(store_url: str) -> None:
    """A kiosk restored without its floors reused event id K001:5 for certificate 12:
    the county quarantined that body (``event_conflict``), yet the certificate was
    printed and handed out. Its number must raise the figure (it said 10)."""
    with Database(store_url) as db:
        db.store_batch([_event("K001", 5, 10)])
        db.store_batch([_event("K001", 5, 12)])  # same id, another body
        (reason,) = db.query("SELECT reason FROM quarantine")[0]
        assert str(reason).startswith("conflict:")
        db.store_batch([_event("K002", 9, 50)])
        db.store_batch([_event("K002", 9, 60)])  # another kiosk's conflict: not ours
        assert devices.highest_used(db, "330100", "K001") == (12, 5)
