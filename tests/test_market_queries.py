"""The markets page's figures (station/queries.py) equal a plain aggregation of the
check-ins and reports, on SQLite and PostgreSQL, for a random set of check-ins: the
day-led indexes of migration 0012 and the bounded windows change the cost, not the sums."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from station import queries
from station.db import Database
from station.queries import Window

START = date(2026, 9, 1)


def _fill(db: Database, seed: int) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(seed)
    for m in range(4):
        db.execute("INSERT INTO markets (county, name, township, created_at) VALUES "
                   "(?, ?, ?, '2026-01-01')", ["330100", f"市场{m}", f"镇{m % 2}"])  # fmt: skip
    markets = [int(r[0]) for r in db.query("SELECT id FROM markets ORDER BY id")]
    for mid in markets:
        db.execute("INSERT INTO accounts (username, display_name, role, market_id, password_hash, "
                   "created_at) VALUES (?, '查验员', 'inspector', ?, 'x', '2026-01-01')",
                   [f"m{mid}", mid])  # fmt: skip
    account = {int(m): int(a) for a, m in db.query("SELECT id, market_id FROM accounts")}
    checkins, reports = [], []
    for _ in range(1500):
        day = (START + timedelta(days=rng.randrange(60))).isoformat()
        number = f"330100-K001-{rng.randrange(400):07d}"  # many numbers checked twice
        mid = rng.choice(markets)
        at = f"{day}T{rng.randrange(6, 18):02d}:{rng.randrange(60):02d}:00+08:00"
        valid = int(rng.random() < 0.9)
        row = ("330100", number, mid, account[mid], "valid" if valid else "expired", valid,
               "desk", at, day)  # fmt: skip
        checkins.append(row)
        db.execute("INSERT INTO checkins (county, number, market_id, account_id, status, valid, "
                   "mode, checked_at, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)  # fmt: skip
    for _ in range(200):
        day = (START + timedelta(days=rng.randrange(60))).isoformat()
        mid = rng.choice(markets)
        reports.append((mid, day))
        db.execute("INSERT INTO uncertified_reports (market_id, account_id, product, quantity, "
                   "supplier, reported_at, day) VALUES (?, ?, '葱', '1', '', ?, ?)",
                   [mid, account[mid], day + "T08:00:00", day])  # fmt: skip
    return checkins, reports


def _raw(checkins: list[tuple], reports: list[tuple], w: Window) -> dict:
    inside = [c for c in checkins if w.first <= c[8] <= w.last]
    checked = Counter((c[2], c[8]) for c in inside)
    valid = Counter((c[2], c[8]) for c in inside if c[5])
    without = Counter((m, d) for m, d in reports if w.first <= d <= w.last)
    stats = {
        key: (checked[key], valid[key], checked[key] - valid[key], without[key])
        for key in set(checked) | set(without)
    }
    markets: dict[str, set] = defaultdict(set)
    times: dict[str, list] = defaultdict(list)
    for c in inside:
        markets[c[1]].add(c[2])
        times[c[1]].append(c[7])
    several = {n: (len(m), min(times[n]), max(times[n])) for n, m in markets.items() if len(m) > 1}
    return {"stats": stats, "per_day": dict(Counter(c[8] for c in inside)), "several": several}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_market_figures_equal_the_raw_aggregation(store, tmp_path, pg_url):
    url = str(tmp_path / "county.db") if store == "sqlite" else pg_url
    with Database(url) as db:
        checkins, reports = _fill(db, seed=12)
        ids = {int(i): n for i, n in db.query("SELECT id, name FROM markets")}
        last = START + timedelta(days=59)
        for days in (1, 7, 30, 60):
            w = Window.ending(last, days)
            want = _raw(checkins, reports, w)
            got = {
                (next(i for i, n in ids.items() if n == s["market"]), s["day"]):
                (s["checked"], s["valid"], s["invalid"], s["without"])
                for s in queries.market_stats(db, w)
            }  # fmt: skip
            assert got == want["stats"]
            assert queries.checkins_per_day(db, w) == want["per_day"]
            several = queries.certificates_at_several_markets(db, w, limit=10_000)
            assert {r[1]: (int(r[2]), r[3], r[4]) for r in several} == want["several"]
            assert [r[4] for r in several] == sorted((r[4] for r in several), reverse=True)
        assert want["several"], "the random check-ins hold certificates seen at two markets"


def test_the_page_windows_are_the_last_days_of_the_window():
    w = Window("2025-01-01", "2026-12-01")
    assert w.tail(31) == Window("2026-11-01", "2026-12-01")
    assert Window("2026-11-28", "2026-12-01").tail(31) == Window("2026-11-28", "2026-12-01")


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_migration_0012_indexes_the_check_ins_by_day(store, tmp_path, pg_url):
    url = str(tmp_path / "county.db") if store == "sqlite" else pg_url
    with Database(url) as db:
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if store == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
        names = {r[0] for r in db.query(sql)}
    assert {"checkins_day_market", "checkins_day_number", "uncertified_day_market"} <= names
