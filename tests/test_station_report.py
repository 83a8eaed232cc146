"""Reports from the county database, gap detection, and the same store on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

from support.uplink import fixed_clock, sample

from station.cli import main
from station.db import Database, Event, Quarantined

RAPID = "rapid tests per township, method and product (per sample)"


def event(schema: str, seq: int, data_seq: int | None = None, device: str = "K001") -> Event:
    kind, data = sample(schema, data_seq or seq, device)
    body = {"id": f"{device}:{seq}", "schema": schema, "data": data}
    return Event("330100", device, seq, f"{device}:{seq}", kind, schema, 1,
                 fixed_clock().isoformat(), data, json.dumps(body))  # fmt: skip


def fill(db: Database) -> None:
    events = [event("certificate.issued", n) for n in range(1, 5)]
    events.append(event("certificate.voided", 5))  # voids N1: not one of ours
    events += [event("rapidtest.result", n) for n in range(6, 10)]  # verdicts cycle
    events.append(event("hold.placed", 10, data_seq=1))
    events.append(event("hold.placed", 11, data_seq=2))
    events.append(event("hold.lifted", 12, data_seq=1))
    events.append(event("alarm.cleared", 15))  # 13, 14 missing
    assert db.store_batch(events, [Quarantined("t", "why", b"x")]) == len(events)
    assert db.store_batch(events) == 0  # a redelivery stores nothing new


def _check_store(db: Database) -> None:
    fill(db)
    assert db.count_events() == 13
    gaps = db.gaps()
    assert [(g.device, g.first, g.last) for g in gaps] == [("K001", 13, 14)]


def test_report_csv_and_gaps(tmp_path, capsys):
    path = tmp_path / "station.db"
    with Database(path) as db:
        _check_store(db)
    assert main(["report", "--db", str(path), "--csv"]) == 0
    out = capsys.readouterr().out
    blocks = {b.split("\n", 1)[0]: b.split("\n", 1)[1] for b in out.split("# ")[1:]}
    certs = list(csv.reader(io.StringIO(blocks["certificates per township, product and day"])))
    assert certs[0][:5] == ["township", "product_code", "product", "day", "issued"]
    assert certs[1][:5] == ["示范镇", "VEG-CABBAGE", "大白菜", "2026-03-02", "4"]
    tests = list(csv.reader(io.StringIO(blocks[RAPID])))
    # seq 6..9: four runs on one sample (positive, invalid, negative, negative): one
    # positive sample, none passed, whatever the count of runs
    assert tests[1][3:] == ["4", "1", "0", "1", "0", "0.0%"]
    holds = list(csv.reader(io.StringIO(blocks["open holds"])))
    assert [row[2] for row in holds[1:]] == ["2"]
    gaps = list(csv.reader(io.StringIO(blocks["sequence gaps"])))
    assert gaps[1] == ["330100", "K001", "13", "14"]
    assert main(["report", "--db", str(path)]) == 0
    assert "== open holds (1) ==" in capsys.readouterr().out


def test_store_on_postgresql(pg_url: str) -> None:
    with Database(pg_url) as db:
        _check_store(db)
        assert db.query("SELECT count(*) FROM quarantine")[0][0] == 1


def test_rapid_tests_are_counted_per_sample_and_batch(tmp_path, capsys) -> None:
    """Re-tests do not inflate the denominator: 3 samples (2 batches named), 6 runs."""
    runs = [  # (sample, batch, verdict, retest_of)
        ("S1", "K001-S1", "suspicious", None), ("S1", "K001-S1", "suspicious", "T1"),
        ("S1", "K001-S1", "positive", "T1"),  # GB/T 5009.199: confirmed at the third
        ("S2", "K001-S2", "negative", None),
        ("S3", None, "invalid", None), ("S3", None, "negative", None),
    ]  # fmt: skip
    events = []
    for n, (sample_id, batch, verdict, retest_of) in enumerate(runs, 1):
        e = event("rapidtest.result", n)
        e.data.update(test_id=f"T{n}", sample_id=sample_id, verdict=verdict, retest_of=retest_of)
        if batch:
            e.data["batch_id"] = batch
        events.append(e)
    path = tmp_path / "station.db"
    with Database(path) as db:
        assert db.store_batch(events) == len(runs)
    assert main(["report", "--db", str(path), "--csv", "--section", "rapidtests"]) == 0
    out = capsys.readouterr().out
    block = out.split("# ", 1)[1].split("\n", 1)
    assert block[0] == RAPID
    (header, row) = list(csv.reader(io.StringIO(block[1])))[:2]
    counted = dict(zip(header, row, strict=True))
    assert (counted["runs"], counted["samples"], counted["batches"]) == ("6", "3", "2")
    assert (counted["positive_samples"], counted["passed_samples"]) == ("1", "2")
    assert counted["pass_rate"] == "66.7%"  # 2 of 3 samples, not 2 of 5 valid runs
