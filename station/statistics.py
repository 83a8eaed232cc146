"""Statistics the county reports, per month or year (docs/enforcement.md, item 6):
certificates (count, tonnage, producers, coverage of the ledger: 应开尽开), rapid tests
per township (samples, runs, positives; batches per 1,000 people where the population
is configured), official samples and failures, and problem products dealt with
(问题产品查处率: holds placed in the period that were lifted after action)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from station import rollups
from station.db import Database

#: The rapid-test target behind "2 batches per 1,000 people" (per year; a month is 1/12).
BATCHES_PER_1000_PER_YEAR = 2.0


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    first: str
    last: str
    months: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026`` (a year) or ``2026-11`` (a month)."""
        try:
            if len(text) == 4:
                year = int(text)
                return cls(text, f"{year}-01-01", f"{year}-12-31", 12)
            year, month = (int(x) for x in text.split("-"))
            days = calendar.monthrange(year, month)[1]
            return cls(
                text, date(year, month, 1).isoformat(), date(year, month, days).isoformat(), 1
            )
        except ValueError:
            raise PeriodError(f"期间应为 YYYY 或 YYYY-MM：{text!r}") from None


@dataclass
class TownshipRow:
    township: str
    certificates: int = 0
    tonnes: float = 0.0
    producers: int = 0
    ledger_producers: int = 0
    coverage: float | None = None
    samples: int = 0
    runs: int = 0
    positives: int = 0
    population: int | None = None
    target_batches: float | None = None
    target_met: bool | None = None


@dataclass
class Statistics:
    period: Period
    townships: list[TownshipRow] = field(default_factory=list)
    official_samples: int = 0
    official_failures: int = 0
    holds_placed: int = 0
    holds_closed: int = 0

    @property
    def closed_rate(self) -> float | None:
        return (
            None if not self.holds_placed else round(100 * self.holds_closed / self.holds_placed, 1)
        )


def compute(db: Database, county: str, period: Period, population: dict[str, int]) -> Statistics:
    stats = Statistics(period)
    rows: dict[str, TownshipRow] = {}

    def row(name: str) -> TownshipRow:
        return rows.setdefault(name, TownshipRow(name))

    # From the rollups (station/rollups.py): a year costs what a month does.
    beyond: dict[str, int] = {}
    for (c, township, _g2, _g3), n in rollups.members_beyond(
        db, "cert_t", period.first, period.last
    ).items():
        if c == county:
            beyond[township] = beyond.get(township, 0) + n
    for (township,), (count, kilos, producers) in rollups.window_sums(
        db,
        "SELECT r.township, sum(r.issued), sum(r.kg), sum(r.producers) FROM rollup_certificates "
        "r WHERE r.county = ? AND {window} AND r.township <> '*' AND r.product_code = '*' "
        "GROUP BY r.township",
        period.first, period.last, 1, before=[county],
    ).items():  # fmt: skip
        if not round(count):
            continue
        r = row(township)
        r.certificates, r.tonnes = round(count), round(kilos / 1000, 3)
        r.producers = round(producers) + beyond.get(township, 0)
    for township, count in db.query(
        "SELECT township, count(*) FROM ledger_producers WHERE county = ? AND merged_into IS NULL "
        "AND township <> '' GROUP BY township",
        [county],
    ):
        row(township).ledger_producers = int(count)
    places = {
        r[0]: r[1]
        for r in db.query("SELECT device_id, township FROM devices WHERE county = ?", [county])
    }
    extra = {
        kind: rollups.members_beyond(db, kind, period.first, period.last)
        for kind in ("test_sd", "test_cd")
    }
    for (device,), (runs, tested, positives) in rollups.window_sums(
        db,
        "SELECT r.device, sum(r.runs), sum(r.samples), sum(r.confirmed) FROM rollup_rapid_tests "
        "r WHERE r.county = ? AND {window} AND r.method = '*' GROUP BY r.device",
        period.first, period.last, 1, before=[county],
    ).items():  # fmt: skip
        if device not in places or not round(runs):
            continue
        key = (county, device, "*", "*")
        r = row(places[device])
        r.runs += round(runs)
        r.samples += round(tested) + extra["test_sd"].get(key, 0)
        r.positives += round(positives) + extra["test_cd"].get(key, 0)
    for r in rows.values():
        if r.ledger_producers:
            r.coverage = round(100 * r.producers / r.ledger_producers, 1)
        people = population.get(r.township)
        if people:
            r.population = people
            r.target_batches = round(
                people / 1000 * BATCHES_PER_1000_PER_YEAR * period.months / 12, 1
            )
            r.target_met = r.samples >= r.target_batches
    stats.townships = sorted(rows.values(), key=lambda r: r.township)
    samples = db.query(
        "SELECT count(*), sum(CASE WHEN verdict = 'fail' THEN 1 ELSE 0 END) FROM official_samples "
        "WHERE county = ? AND sampled_on BETWEEN ? AND ?",
        [county, period.first, period.last],
    )[0]
    stats.official_samples, stats.official_failures = int(samples[0]), int(samples[1] or 0)
    holds = db.query(
        "SELECT count(*), sum(CASE WHEN lifted_at IS NOT NULL THEN 1 ELSE 0 END) FROM county_holds "
        "WHERE county = ? AND placed_at >= ? AND placed_at < ?",
        [county, period.first, period.last + "T99"],
    )[0]
    stats.holds_placed, stats.holds_closed = int(holds[0]), int(holds[1] or 0)
    return stats


HEAD = ["乡镇", "开具张数", "重量(吨)", "开证主体数", "名录主体数", "覆盖率%", "快检样品",
        "快检次数", "阳性", "人口", "目标批次", "达标"]  # fmt: skip


def export_rows(stats: Statistics) -> list[list[object]]:
    out: list[list[object]] = [
        [r.township, r.certificates, r.tonnes, r.producers, r.ledger_producers,
         "" if r.coverage is None else r.coverage, r.samples, r.runs, r.positives,
         r.population or "", "" if r.target_batches is None else r.target_batches,
         "" if r.target_met is None else ("是" if r.target_met else "否")]
        for r in stats.townships
    ]  # fmt: skip
    out.append(["监督抽检", stats.official_samples, "", "不合格", stats.official_failures])
    out.append(["问题产品", stats.holds_placed, "", "已查处", stats.holds_closed,
                "" if stats.closed_rate is None else stats.closed_rate])  # fmt: skip
    return out
