"""The dashboard's rollups (station/rollups.py) give the figures of the raw rows, on
SQLite and PostgreSQL: random event streams (certificates, voids before and after their
certificate, redeliveries, a number re-used by another event, rapid tests with re-tests
on later days, days out of order) stored in random batches, then every window figure
compared with the aggregation of the raw rows; and the backfill of migration 0010
rebuilds exactly what the collector's upkeep kept."""

from __future__ import annotations

import json
import math
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from station import queries, rollups, statistics
from station.db import SAMPLE_KEY, Database, Event
from station.queries import Window

COUNTIES = ("330100", "330200")
TOWNSHIPS = {"330100": ("甲镇", "乙镇"), "330200": ("丙镇",)}
PRODUCTS = (("V001", "青菜"), ("V002", "萝卜"), ("V002", "白萝卜"), ("F001", "草莓"))
UNITS = ("公斤", "斤", "吨", "克", "箱")
METHODS = ("胶体金", "酶抑制率法")
FIRST_DAY = date(2025, 11, 20)
DAYS = 80  # crosses two month ends and a year end


def _day(rng: random.Random) -> str:
    return (FIRST_DAY + timedelta(days=rng.randrange(DAYS))).isoformat()


class Stream:
    """Random county events, each with a unique id and seq per device."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = seed * 100_000
        self.seq: dict[tuple[str, str], int] = {}
        self.numbers: list[tuple[str, str]] = []
        self.samples: list[tuple[str, str, str]] = []

    def _event(self, county: str, device: str, schema: str, data: dict[str, Any]) -> Event:
        seq = self.seq[(county, device)] = self.seq.get((county, device), self.base) + 1
        event_id = f"{county}-{device}-{seq}"
        body = json.dumps({"id": event_id, "data": data}, ensure_ascii=False)
        return Event(county, device, seq, event_id, schema.split(".")[0], schema, 1,
                     "2026-01-01T00:00:00+08:00", data, body)  # fmt: skip

    def certificate(self) -> Event:
        rng = self.rng
        county, device = rng.choice(COUNTIES), f"K00{rng.randrange(1, 4)}"
        if self.numbers and rng.random() < 0.03:  # the number again, from another event
            county, number = rng.choice(self.numbers)
        else:
            number = f"{county}-{device}-{self.base + len(self.numbers):07d}"
            self.numbers.append((county, number))
        code, name = rng.choice(PRODUCTS)
        day = _day(rng)
        data: dict[str, Any] = {
            "number": number, "issued_at": f"{day}T09:00:00+08:00",
            "township": rng.choice(TOWNSHIPS[county]), "service_point": "点", "product_code": code,
            "product_name": name, "quantity": str(rng.choice((1, 2.5, 12, 300, 7.25))),
            "unit": rng.choice(UNITS), "basis": "quality_control",
            "producer_key": f"tel:138{rng.randrange(12):08d}", "issuer_name": "张",
            "issuer_phone": "13800000000", "origin": "村", "inputs_used": [],
            "test_ref": None, "style": "style1",
        }  # fmt: skip
        return self._event(county, device, "certificate.issued", data)

    def void(self) -> Event:
        rng = self.rng
        if self.numbers and rng.random() < 0.8:
            county, number = rng.choice(self.numbers)
        else:  # a void that arrives before its certificate (or of one never uploaded)
            county = rng.choice(COUNTIES)
            number = f"{county}-K001-{self.base + len(self.numbers) + rng.randrange(5):07d}"
        return self._event(county, "K001", "certificate.voided",
                           {"number": number, "reason": "数量填错"})  # fmt: skip

    def rapid_test(self) -> Event:
        rng = self.rng
        sample: str | None
        if self.samples and rng.random() < 0.3:  # a re-test, maybe on another day
            county, device, sample = rng.choice(self.samples)
        else:  # a first run; without a sample id its test id names the sample
            county, device = rng.choice(COUNTIES), f"K00{rng.randrange(1, 5)}"
            sample = rng.choice((f"S{len(self.samples)}", None))
            if sample:
                self.samples.append((county, device, sample))
        test_id = f"T{rng.randrange(10**9)}"
        data = {
            "test_id": test_id, "finished_at": f"{_day(rng)}T10:00:00+08:00",
            "producer_key": "tel:13800000001", "product_code": rng.choice(PRODUCTS)[0],
            "method": rng.choice(METHODS), "analyte": "organophosphate",
            "verdict": rng.choice(("negative", "negative", "positive", "invalid", "suspicious")),
            "retest_of": None, "sample_id": sample, "batch_id": None,
        }  # fmt: skip
        return self._event(county, device, "rapidtest.result", data)

    def events(self, n: int) -> list[Event]:
        made: list[Event] = []
        for _ in range(n):
            r = self.rng.random()
            if made and r < 0.05:
                made.append(self.rng.choice(made))  # a redelivery
            elif r < 0.65:
                made.append(self.certificate())
            elif r < 0.75:
                made.append(self.void())
            else:
                made.append(self.rapid_test())
        return made


def fill(db: Database, seed: int, n: int = 900) -> None:
    stream = Stream(seed)
    events = stream.events(n)
    rng = stream.rng
    while events:
        size = rng.choice((1, 3, 17, 60))
        db.store_batch(events[:size])
        events = events[size:]
    db.execute(
        "INSERT INTO devices (county, device_id, township, service_point, enrolled_at) "
        "VALUES (?, 'K001', '甲镇', '点', '2025-01-01'), (?, 'K002', '乙镇', '点', '2025-01-01')",
        list(COUNTIES[:1]) * 2,
    )
    db.query("SELECT 1")  # commits on PostgreSQL


# ---- the raw-row aggregation the dashboard did before the rollups --------------------


def raw_certificates(db: Database, window: Window, township: str | None = None) -> dict:
    where = "c.day BETWEEN ? AND ?"
    params: list[Any] = [window.first, window.last]
    if township:
        where += " AND c.township = ?"
        params.append(township)
    kg = rollups.kg_expr(db)
    by_day = db.query(
        f"SELECT c.day, count(*), sum({kg}) FROM certificates c WHERE {where} GROUP BY c.day",
        params,
    )
    rows = db.query(
        f"SELECT c.township, c.product_code, c.product_name, count(*), "
        f"sum(CASE WHEN v.number IS NULL THEN 0 ELSE 1 END), sum({kg}), "
        "count(DISTINCT c.producer_key) FROM certificates c LEFT JOIN certificate_voids v "
        f"ON v.county = c.county AND v.number = c.number WHERE {where} "
        "GROUP BY c.township, c.product_code, c.product_name",
        params,
    )
    totals = db.query(
        f"SELECT count(*), sum({kg}), count(DISTINCT c.producer_key) "
        f"FROM certificates c WHERE {where}",
        params,
    )[0]
    per_day = {r[0]: (int(r[1]), float(r[2] or 0)) for r in by_day}
    return {
        "total": int(totals[0]),
        "tonnes": float(totals[1] or 0) / 1000,
        "producers": int(totals[2]),
        "per_day": [per_day.get(d, (0, 0.0))[0] for d in window.days()],
        "tonnes_per_day": [round(per_day.get(d, (0, 0.0))[1] / 1000, 3) for d in window.days()],
        "rows": sorted(
            (r[0], r[1], r[2], int(r[3]), int(r[4]), float(r[5] or 0) / 1000, int(r[6]))
            for r in rows
        ),
    }


def raw_rapid_tests(db: Database, window: Window) -> list[tuple]:
    return sorted(
        (r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]))
        for r in db.query(
            "SELECT coalesce(d.township, '（未登记）'), t.method, t.product_code, count(*), "
            "sum(CASE WHEN t.verdict = 'positive' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN t.verdict = 'invalid' THEN 1 ELSE 0 END), "
            f"count(DISTINCT {SAMPLE_KEY}), "
            f"count(DISTINCT CASE WHEN t.verdict = 'positive' THEN {SAMPLE_KEY} END) "
            "FROM rapid_tests t LEFT JOIN devices d ON d.county = t.county "
            "AND d.device_id = t.device WHERE t.day BETWEEN ? AND ? "
            "GROUP BY coalesce(d.township, '（未登记）'), t.method, t.product_code",
            [window.first, window.last],
        )
    )


def raw_statistics(db: Database, county: str, first: str, last: str) -> dict[str, tuple]:
    """Per township: certificates, tonnes, producers, runs, samples, confirmed samples."""
    found: dict[str, list] = {}
    kg = rollups.kg_expr(db)
    for township, count, kilos, producers in db.query(
        f"SELECT c.township, count(*), sum({kg}), count(DISTINCT c.producer_key) FROM "
        "certificates c WHERE c.county = ? AND c.day BETWEEN ? AND ? GROUP BY c.township",
        [county, first, last],
    ):
        found[township] = [int(count), round((kilos or 0) / 1000, 3), int(producers), 0, 0, 0]
    for township, runs, samples, positives in db.query(
        f"SELECT d.township, count(*), count(DISTINCT {SAMPLE_KEY}), "
        f"count(DISTINCT CASE WHEN t.verdict = 'positive' THEN {SAMPLE_KEY} END) "
        "FROM rapid_tests t JOIN devices d ON d.county = t.county AND d.device_id = t.device "
        "WHERE t.county = ? AND t.day BETWEEN ? AND ? GROUP BY d.township",
        [county, first, last],
    ):
        found.setdefault(township, [0, 0.0, 0, 0, 0, 0])[3:] = [runs, samples, positives]
    return {t: tuple(v) for t, v in found.items()}


def windows(seed: int) -> list[Window]:
    rng = random.Random(seed)
    found = [
        Window(FIRST_DAY.isoformat(), (FIRST_DAY + timedelta(days=DAYS)).isoformat()),
        Window("2025-12-01", "2025-12-31"),  # one whole month
        Window("2025-01-01", "2026-12-31"),  # whole years, most of them empty
        Window("2025-12-31", "2026-01-01"),
    ]
    for _ in range(25):
        first = FIRST_DAY + timedelta(days=rng.randrange(-5, DAYS))
        found.append(Window.ending(first + timedelta(days=rng.randrange(60)), rng.randrange(1, 70)))
    return found


def assert_same_figures(db: Database, seed: int) -> None:
    checked = 0
    for window in windows(seed):
        for township in (None, "甲镇", "乙镇", "丙镇"):
            got = queries.certificates_summary(db, window, township)
            want = raw_certificates(db, window, township)
            assert got["total"] == want["total"], (window, township)
            assert math.isclose(got["tonnes"], want["tonnes"], abs_tol=1e-6)
            assert got["producers"] == want["producers"], (window, township)
            assert got["per_day"] == want["per_day"]
            assert got["tonnes_per_day"] == pytest.approx(want["tonnes_per_day"], abs=0.0011)
            rows = sorted(
                (r["township"], r["product_code"], r["product"], r["issued"], r["voided"],
                 r["tonnes"], r["producers"])
                for r in got["rows"]
            )  # fmt: skip
            assert [r[:5] + r[6:] for r in rows] == [r[:5] + r[6:] for r in want["rows"]]
            assert [r[5] for r in rows] == pytest.approx([r[5] for r in want["rows"]], abs=6e-4)
            checked += got["total"]
        tests = queries.rapid_tests_summary(db, window)["rows"]
        keys = ("township", "method", "product_code", "runs", "positives", "invalid", "samples",
                "confirmed")  # fmt: skip
        assert sorted(tuple(r[k] for k in keys) for r in tests) == raw_rapid_tests(db, window)
    assert checked > 1000  # the windows held certificates
    for label in ("2025-11", "2025-12", "2026-01", "2025", "2026"):
        period = statistics.Period.parse(label)
        stats = statistics.compute(db, COUNTIES[0], period, {})
        assert {
            r.township: (r.certificates, r.tonnes, r.producers, r.runs, r.samples, r.positives)
            for r in stats.townships
            if r.certificates or r.runs
        } == raw_statistics(db, COUNTIES[0], period.first, period.last), label


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every rollup row, less the counter rows the upkeep left at zero (a producer's
    latest day moved on): they add nothing to any figure."""
    return {
        table: sorted(
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for row in db.query(f"SELECT * FROM {table}")
            if table == "rollup_members" or any(row[6:])
        )
        for table in rollups.TABLES
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rollup_figures_equal_the_raw_rows_and_the_backfill(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "county.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    with Database(url) as db:
        fill(db, seed=1515)
        assert db.query("SELECT count(*) FROM certificate_voids")[0][0] > 20
        assert_same_figures(db, seed=15)
        kept = snapshot(db)
        assert kept["rollup_members"]
        rollups.rebuild(db)
        assert snapshot(db) == kept


def test_the_migration_backfills_a_store_filled_before_it(tmp_path: Path) -> None:
    """A store at schema 9 with two months of events gets its rollups when migration
    0010 runs, and the upkeep then goes on from there."""
    path = tmp_path / "county.db"
    with Database(path) as db:
        fill(db, seed=7)
        kept = snapshot(db)
        for table in rollups.TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM schema_migrations WHERE version >= 10")
    with Database(path) as db:
        assert snapshot(db) == kept
        db.store_batch(Stream(8).events(100))
        assert_same_figures(db, seed=16)


def test_a_windows_cover_counts_each_day_once() -> None:
    """Added and taken-away years, months and days sum to exactly the window's days."""
    rng = random.Random(3)
    length = {"D": 10, "M": 7, "Y": 4}
    for _ in range(400):
        first = date(2024, 1, 1) + timedelta(days=rng.randrange(900))
        last = first + timedelta(days=rng.randrange(800))
        today = first + timedelta(days=rng.randrange(-30, 900))
        span = Window((first - timedelta(days=400)).isoformat(),
                      (last + timedelta(days=400)).isoformat()).days()  # fmt: skip
        weight = dict.fromkeys(span, 0)
        for c, grain, lo, hi in rollups.periods(first.isoformat(), last.isoformat(), today):
            for d in span:
                if lo <= d[: length[grain]] <= hi:
                    weight[d] += c
        assert [d for d in span if weight[d]] == Window(first.isoformat(), last.isoformat()).days()
        assert all(weight[d] in (0, 1) for d in span)


def test_value_dependent_lookups_are_never_prepared_on_postgresql(pg_url: str) -> None:
    """psycopg prepares a statement after five runs and the server then may pick a
    generic plan: for ``number = ANY(array)`` it scanned the county's certificates at
    every batch (a collector fell from 8,800 to 2,200 events/s by 20,000 events)."""
    with Database(pg_url) as db:
        events = Stream(1717).events(400)
        for start in range(0, len(events), 10):  # 40 batches: far past the threshold
            db.store_batch(events[start : start + 10])
        prepared = [r[0] for r in db.query("SELECT statement FROM pg_prepared_statements")]
    assert prepared, "nothing prepared at all: the check below would prove nothing"
    assert not [s for s in prepared if "ANY(" in s or " IN (" in s], prepared
