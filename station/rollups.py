"""Per-day rollups of certificates and rapid tests, for the dashboard (migration 0010).

Why: a dashboard window over two years of a 50-kiosk county would aggregate 3 million
certificates on every page view. The rollups hold one row per day, month and year and
per township × product (certificates) or kiosk × method × product (rapid tests), so a
window of any length reads whole years, whole months and the days at its ends.

They are kept by the collector's writer in the transaction that stores the events
(``maintained`` wraps the projection in ``station/db.py``), so they never drift from the
raw rows: what was stored is looked up before and read back after the projection, which
makes the deltas exact whatever the projection's insert strategy, for redeliveries,
out-of-order days, and a void stored before or after its certificate.

Collectors sharing a PostgreSQL store: those look-ups cannot see another transaction's
uncommitted rows (a certificate and its void stored at once would each miss the other;
two days of one producer stored at once would both count as its latest). So the upkeep
first takes a transaction-level advisory lock per key its batch touches (``lock_keys``:
certificate number, rapid test, producer, sample), sorted, in one statement: a second
collector waits only for a batch that shares a key, and then reads its committed rows.
The counter rows of a county's days are shared by every batch: they are written last,
in key order, so collectors take turns only from there to commit. SQLite has one writer
at a time: no locks.

Distinct counts (producers, samples) do not add up across days: each member's active
days are kept in ``rollup_members`` with the next day it was active again, and the
counters hold how many members had their latest day in a period. The members active in
days a..b are those whose latest day up to b lies in a..b: the counters summed over the
window plus the member rows with a <= day <= b < next_day (none when the window ends
on the latest day stored). Producers of the county and per product are counted across
the counties of a store, as the dashboard's raw query did (county '*' in their member
and counter rows); per township within its county (a township belongs to one county);
a sample belongs to one county and kiosk.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.db import Database, Event

log = logging.getLogger(__name__)

#: Kilograms per unit, for tonnage; counting units (头, 只, 箱, …) are not weighed.
KG_PER_UNIT = {"公斤": 1.0, "千克": 1.0, "斤": 0.5, "吨": 1000.0, "克": 0.001}
#: Distinct producers per county, township, and township × product.
CERT_KINDS = ("cert_c", "cert_t", "cert_p")
#: Where a member kind's "latest day" counter lives: (table, column).
_COUNTERS = {
    "cert_c": ("rollup_certificates", "producers"),
    "cert_t": ("rollup_certificates", "producers"),
    "cert_p": ("rollup_certificates", "producers"),
    "test_s": ("rollup_rapid_tests", "samples"),
    "test_c": ("rollup_rapid_tests", "confirmed"),
    "test_sd": ("rollup_rapid_tests", "samples"),
    "test_cd": ("rollup_rapid_tests", "confirmed"),
}
_CERT_MEASURES = ("issued", "kg", "voided", "producers")
_TEST_MEASURES = ("runs", "positives", "invalid", "samples", "confirmed")
_KEYS = {
    "rollup_certificates": ("county", "grain", "period", "township", "product_code",
                            "product_name"),
    "rollup_rapid_tests": ("county", "grain", "period", "device", "method", "product_code"),
}  # fmt: skip
_MEASURES = {"rollup_certificates": _CERT_MEASURES, "rollup_rapid_tests": _TEST_MEASURES}
_MEASURE_INDEX = {table: {m: i for i, m in enumerate(ms)} for table, ms in _MEASURES.items()}
_IN_CHUNK = 500
_ROLLED_UP = ("certificate.issued", "certificate.voided", "rapidtest.result")
#: The class (first int) of the PostgreSQL advisory locks of the upkeep's keys: the
#: two-int key space is apart from the one-bigint keys (``SCHEMA_LOCK_KEY``).
KEY_LOCK_CLASS = 0x726F6C6B


def kg_expr(db: Database) -> str:
    """SQL for the kilograms of certificate ``c`` (0 for counting units): the same
    expression in the raw queries, the backfill and the incremental upkeep."""
    from station.db import SQLITE

    cast = "REAL" if db.dialect is SQLITE else "DOUBLE PRECISION"
    cases = " ".join(f"WHEN '{unit}' THEN {kg}" for unit, kg in KG_PER_UNIT.items())
    return f"CAST(c.quantity AS {cast}) * (CASE c.unit {cases} ELSE 0 END)"


def cert_group(kind: str, township: str, code: str, name: str) -> tuple[str, str, str]:
    """The key a certificate counts under for one kind ('*': every value)."""
    if kind == "cert_c":
        return ("*", "*", "*")
    if kind == "cert_t":
        return (township, "*", "*")
    return (township, code, name)


# ---- windows ------------------------------------------------------------------------


#: Rough rows read per key for one period of a grain, to choose how to cover a window.
_COST = {"D": 1, "M": 8, "Y": 12}
_Piece = tuple[int, str, date, date]  # (coefficient, grain, first day, last day)


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _cost(pieces: list[_Piece], today: date) -> int:
    """Periods after ``today`` hold no rows yet: reading them costs nothing."""
    total = 0
    for _c, grain, lo, hi in pieces:
        if lo <= today:
            total += (min(hi, today) - lo).days + 1 if grain == "D" else _COST[grain]
    return total


def _negated(pieces: list[_Piece]) -> list[_Piece]:
    return [(-c, grain, lo, hi) for c, grain, lo, hi in pieces]


def _days(first: date, last: date) -> list[_Piece]:
    return [(1, "D", first, last)] if first <= last else []


def _month(first: date, last: date, today: date) -> list[_Piece]:
    """Days of one month: the days themselves, or the month less the other days."""
    start, end = first.replace(day=1), _month_end(first)
    whole: list[_Piece] = [(1, "M", start, end)]
    if first == start and last == end:
        return whole
    less = whole + _negated(_days(start, first - timedelta(days=1)))
    less += _negated(_days(last + timedelta(days=1), end))
    return min(_days(first, last), less, key=lambda p: _cost(p, today))


def _months(first: date, last: date, today: date) -> list[_Piece]:
    pieces: list[_Piece] = []
    while first <= last:
        end = min(last, _month_end(first))
        pieces += _month(first, end, today)
        first = end + timedelta(days=1)
    return pieces


def _year(first: date, last: date, today: date) -> list[_Piece]:
    """Days of one year: month by month, or the year less the other months."""
    start, end = date(first.year, 1, 1), date(first.year, 12, 31)
    whole: list[_Piece] = [(1, "Y", start, end)]
    if first == start and last == end:
        return whole
    less = whole + _negated(_months(start, first - timedelta(days=1), today))
    less += _negated(_months(last + timedelta(days=1), end, today))
    return min(_months(first, last, today), less, key=lambda p: _cost(p, today))


def _next(grain: str, period: str) -> str:
    """The period after ``period`` of its grain."""
    if grain == "Y":
        return f"{int(period) + 1:04d}"
    if grain == "M":
        return (_month_end(date.fromisoformat(period + "-01")) + timedelta(days=1)).isoformat()[:7]
    return (date.fromisoformat(period) + timedelta(days=1)).isoformat()


def periods(first: str, last: str, today: date | None = None) -> list[tuple[int, str, str, str]]:
    """Days ``first..last`` as (coefficient, grain, first period, last period): whole
    years, months and days, added or taken away, whichever reads fewest rows (the 730
    days to today: a month less a day, a year, and this year less the days to come)."""
    today = today or date.today()
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    pieces: list[_Piece] = []
    for year in range(start.year, end.year + 1):
        pieces += _year(max(start, date(year, 1, 1)), min(end, date(year, 12, 31)), today)
    net: dict[tuple[str, str], int] = defaultdict(int)
    length = {"D": 10, "M": 7, "Y": 4}
    for c, grain, lo, hi in pieces:
        if grain == "D":
            for n in range((hi - lo).days + 1):
                net[("D", (lo + timedelta(days=n)).isoformat())] += c
        else:
            net[(grain, lo.isoformat()[: length[grain]])] += c
    ranges: list[tuple[int, str, str, str]] = []
    for (grain, period), c in sorted(net.items()):
        if not c:
            continue
        if ranges and ranges[-1][:2] == (c, grain) and _next(grain, ranges[-1][3]) == period:
            ranges[-1] = (c, grain, ranges[-1][2], period)
        else:
            ranges.append((c, grain, period, period))
    return ranges


def window_sql(
    first: str, last: str, alias: str = "r", today: date | None = None
) -> list[tuple[int, str, list[str]]]:
    """The rollup rows that make up days ``first..last``: (coefficient, WHERE condition,
    its parameters), one per coefficient; a figure is the sum of coefficient × the sum
    over the rows each condition selects."""
    by_coefficient: dict[int, tuple[list[str], list[str]]] = {}
    for c, grain, lo, hi in periods(first, last, today):
        parts, params = by_coefficient.setdefault(c, ([], []))
        parts.append(f"({alias}.grain = ? AND {alias}.period BETWEEN ? AND ?)")
        params += [grain, lo, hi]
    return [(c, "(" + " OR ".join(parts) + ")", params)
            for c, (parts, params) in sorted(by_coefficient.items(), reverse=True)]  # fmt: skip


def window_sums(
    db: Database,
    sql: str,
    first: str,
    last: str,
    keys: int,
    before: Sequence[Any] = (),
    after: Sequence[Any] = (),
) -> dict[tuple[Any, ...], list[float]]:
    """Run ``sql`` (its ``{window}`` the rollup rows ``r`` of days ``first..last``;
    ``before`` and ``after`` its other parameters) once per coefficient of the window's
    cover; returns its first ``keys`` columns -> the weighted sums of the others."""
    found: dict[tuple[Any, ...], list[float]] = {}
    for c, where, params in window_sql(first, last):
        for row in db.query(sql.format(window=where), [*before, *params, *after]):
            sums = found.setdefault(tuple(row[:keys]), [0.0] * (len(row) - keys))
            for i, value in enumerate(row[keys:]):
                sums[i] += c * float(value or 0)
    return found


def members_beyond(
    db: Database, kind: str, first: str, last: str, g1: str | None = None
) -> dict[tuple[str, str, str, str], int]:
    """Members active in ``first..last`` whose latest day up to ``last`` is not their
    latest day overall (they were active again after ``last``), by (county, g1, g2, g3):
    what the per-period counters miss for a window ending before the latest day."""
    sql = (
        "SELECT county, g1, g2, g3, count(*) FROM rollup_members WHERE kind = ? "
        "AND next_day > ? AND day BETWEEN ? AND ?"
    )
    params: list[Any] = [kind, last, first, last]
    if g1 is not None:
        sql += " AND g1 = ?"
        params.append(g1)
    rows = db.query(sql + " GROUP BY county, g1, g2, g3", params)
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


# ---- upkeep -------------------------------------------------------------------------


@dataclass
class _Pending:
    """Keys of the batch that were not stored before the projection ran."""

    certs: set[tuple[str, str]] = field(default_factory=set)
    voids: set[tuple[str, str]] = field(default_factory=set)
    tests: set[tuple[str, str, str]] = field(default_factory=set)
    #: New certificates whose void was already stored (a void that arrived first).
    voided_before: set[tuple[str, str]] = field(default_factory=set)


@contextmanager
def maintained(db: Database, events: Sequence[Event]) -> Iterator[None]:
    """Around the projection of ``events`` (new events, inside the store transaction):
    add what the projection stored to the rollups."""
    if not any(e.schema in _ROLLED_UP for e in events):
        yield
        return
    if _postgres(db):
        _lock_keys(db, events)
    pending = _look_before(db, events)
    yield
    if pending.certs or pending.voids or pending.tests:
        _apply(db, pending)


def lock_keys(events: Sequence[Event]) -> list[int]:
    """The advisory lock keys of ``events``' rollup upkeep, sorted: one per certificate
    number (its issue and its void share it), rapid test, producer and sample.

    Why: the upkeep reads what is stored (is this certificate new, is it voided, which
    are a member's neighbouring days) and a concurrent collector's uncommitted rows are
    invisible. Two transactions touching one of these keys take turns, to commit, so the
    second reads the first's rows; transactions on other keys do not wait. A member lock
    is per producer (or sample), coarser than its rows (kind × group × member): a
    producer's rows of one batch then cost one lock. Keys are CRC-32s (stable across
    processes, unlike ``hash``): a collision only makes two batches wait."""
    keys: set[str] = set()
    for e in events:
        d = e.data
        if e.schema in ("certificate.issued", "certificate.voided"):
            keys.add(f"c\x1f{e.county}\x1f{d['number']}")
            if e.schema == "certificate.issued":  # counted across counties ('*')
                keys.add(f"p\x1f{d['producer_key']}")
        elif e.schema == "rapidtest.result":
            keys.add(f"t\x1f{e.county}\x1f{e.device}\x1f{d['test_id']}")
            sample = d["test_id"] if d.get("sample_id") is None else d["sample_id"]
            keys.add(f"s\x1f{e.county}\x1f{e.device}\x1f{sample}")
    hashed = {zlib.crc32(k.encode("utf-8", "surrogatepass")) for k in keys}
    return sorted(h - 2**32 if h >= 2**31 else h for h in hashed)  # PostgreSQL int4


def _lock_keys(db: Database, events: Sequence[Event]) -> None:
    """Take ``lock_keys(events)`` until commit, in one statement: the function scan
    follows the sorted array, so two collectors never hold each other's next key."""
    db.execute(
        "SELECT count(pg_advisory_xact_lock(?, k)) FROM unnest(?::int[]) AS k",
        [KEY_LOCK_CLASS, lock_keys(events)],
    )


def _look_before(db: Database, events: Sequence[Event]) -> _Pending:
    certs: set[tuple[str, str]] = set()
    voids: set[tuple[str, str]] = set()
    tests: set[tuple[str, str, str]] = set()
    for e in events:
        if e.schema == "certificate.issued":
            certs.add((e.county, str(e.data["number"])))
        elif e.schema == "certificate.voided":
            voids.add((e.county, str(e.data["number"])))
        elif e.schema == "rapidtest.result":
            tests.add((e.county, e.device, str(e.data["test_id"])))
    pending = _Pending()
    if certs:
        pending.certs = certs - set(_rows(db, "certificates c", ("c.county", "c.number"), certs))
        voided = _rows(db, "certificate_voids v", ("v.county", "v.number"), pending.certs)
        pending.voided_before = {(k[0], k[1]) for k in voided}
    if voids:
        stored = _rows(db, "certificate_voids v", ("v.county", "v.number"), voids)
        pending.voids = voids - set(stored)
    if tests:
        pending.tests = tests - set(
            _rows(db, "rapid_tests t", ("t.county", "t.device", "t.test_id"), tests)
        )
    return pending


def _rows(
    db: Database,
    table: str,
    key: Sequence[str],
    keys: Iterable[tuple[str, ...]],
    columns: Sequence[str] = (),
) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """``columns`` of the rows of ``table`` whose ``key`` columns equal one of ``keys``,
    by key: one query per key prefix and 500 last-column values."""
    by_prefix: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for k in keys:
        by_prefix[k[:-1]].append(k[-1])
    found: dict[tuple[str, ...], tuple[Any, ...]] = {}
    select = ", ".join([*key, *columns])
    prefix_sql = " AND ".join(f"{c} = ?" for c in key[:-1])
    for prefix, values in by_prefix.items():
        if _postgres(db):  # one array parameter: a short query, planned once
            rows = db.execute(
                f"SELECT {select} FROM {table} WHERE {prefix_sql} AND {key[-1]} = ANY(?)",
                [*prefix, values],
                # Never prepared: after ~10 runs the server switched to a generic plan
                # that scans the county's rows (60 -> 330 ms a batch by 20,000 events).
                prepare=False,
            ).fetchall()
            found.update((tuple(r[: len(key)]), tuple(r[len(key) :])) for r in rows)
            continue
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT {select} FROM {table} WHERE {prefix_sql} AND {key[-1]} IN ({marks})",
                [*prefix, *chunk],
                prepare=False,  # a generic plan for 500 parameters scans (Database.execute)
            ).fetchall()
            for r in rows:
                found[tuple(r[: len(key)])] = tuple(r[len(key) :])
    return found


def _postgres(db: Database) -> bool:
    from station.db import POSTGRES

    return db.dialect is POSTGRES


class _Deltas:
    """Additive changes per rollup row, written with one upsert per table. Kept per day
    and rolled up to months and years once, at ``write``: a batch adds to a few hundred
    days' rows many thousand times."""

    def __init__(self) -> None:
        self.days: dict[str, dict[tuple[str, ...], list[float]]] = {t: {} for t in _MEASURES}

    def add(
        self, table: str, county: str, day: str, group: Sequence[str], **amounts: float
    ) -> None:
        rows = self.days[table]
        key = (county, day, *group)
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0.0] * len(_MEASURES[table])
        index = _MEASURE_INDEX[table]
        for name, amount in amounts.items():
            row[index[name]] += amount

    @property
    def rows(self) -> dict[str, dict[tuple[str, ...], list[float]]]:
        """table -> (county, grain, period, *group) -> measures: each day's change, and
        its month's and year's."""
        out: dict[str, dict[tuple[str, ...], list[float]]] = {}
        for table, days in self.days.items():
            rows: dict[tuple[str, ...], list[float]] = {}
            for (county, day, *group), amounts in days.items():
                for key in ((county, "D", day, *group), (county, "M", day[:7], *group),
                            (county, "Y", day[:4], *group)):  # fmt: skip
                    row = rows.get(key)
                    if row is None:
                        rows[key] = list(amounts)
                    else:
                        for i, amount in enumerate(amounts):
                            row[i] += amount
            out[table] = rows
        return out

    def write(self, db: Database) -> None:
        for table, rows in self.rows.items():
            if not rows:
                continue
            keys, measures = _KEYS[table], _MEASURES[table]
            columns = ", ".join([*keys, *measures])
            marks = ", ".join("?" * (len(keys) + len(measures)))
            sets = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
            conflict = ", ".join(keys[1:] + keys[:1])
            # In key order: concurrent writers then lock rows in the same order.
            values = [(*k, *(v if m == "kg" else round(v) for m, v in zip(measures, rows[k],
                                                                           strict=True)))
                      for k in sorted(rows)]  # fmt: skip
            upsert = f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
            if _postgres(db):
                stage = db._stage(table, [*keys, *measures], values, f"stage_{table}_delta")
                db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                           f"{upsert}")  # fmt: skip
            else:
                db._executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {upsert}",
                                values)  # fmt: skip


def _apply(db: Database, pending: _Pending) -> None:
    deltas = _Deltas()
    points: list[tuple[str, str, tuple[str, str, str], str, str]] = []
    cert_columns = ("c.day", "c.township", "c.product_code", "c.product_name", kg_expr(db),
                    "c.producer_key")  # fmt: skip
    stored = _rows(db, "certificates c", ("c.county", "c.number"), pending.certs, cert_columns)
    # Summed per day and product first: a batch holds a few products on a few days.
    issued: dict[tuple[str, str, str, str, str], list[float]] = {}
    producers: set[tuple[str, str, str, str, str, str]] = set()
    for (county, number), (day, township, code, name, kg, producer) in stored.items():
        sums = issued.get(key := (county, day, township, code, name))
        if sums is None:
            sums = issued[key] = [0, 0.0, 0]
        sums[0] += 1
        sums[1] += float(kg or 0)
        sums[2] += (county, number) in pending.voided_before
        producers.add((*key, producer))
    for (county, day, township, code, name), (count, kg, voided) in issued.items():
        for kind in CERT_KINDS:
            group = cert_group(kind, township, code, name)
            deltas.add("rollup_certificates", county, day, group, issued=count, kg=kg,
                       voided=voided)  # fmt: skip
    for county, day, township, code, name, producer in producers:
        for kind in CERT_KINDS:
            group = cert_group(kind, township, code, name)
            points.append((county if kind == "cert_t" else "*", kind, group, producer, day))
    voided_now = _rows(db, "certificates c", ("c.county", "c.number"), pending.voids,
                       cert_columns[:4])  # fmt: skip
    for (county, _number), (day, township, code, name) in voided_now.items():
        for kind in CERT_KINDS:
            deltas.add("rollup_certificates", county, day, cert_group(kind, township, code, name),
                       voided=1)  # fmt: skip
    tests = _rows(db, "rapid_tests t", ("t.county", "t.device", "t.test_id"), pending.tests,
                  ("t.day", "t.method", "t.product_code", "t.verdict",
                   "coalesce(t.sample_id, t.test_id)"))  # fmt: skip
    for (county, device, _test), (day, method, product, verdict, sample) in tests.items():
        positive, invalid = int(verdict == "positive"), int(verdict == "invalid")
        # Per kiosk × method × product (the tests page) and per kiosk (statistics).
        for group, kinds in (((device, method, product), ("test_s", "test_c")),
                             ((device, "*", "*"), ("test_sd", "test_cd"))):  # fmt: skip
            deltas.add("rollup_rapid_tests", county, day, group, runs=1, positives=positive,
                       invalid=invalid)  # fmt: skip
            points.append((county, kinds[0], group, sample, day))
            if verdict == "positive":
                points.append((county, kinds[1], group, sample, day))
    _add_members(db, deltas, points)
    deltas.write(db)


_MEMBER_KEY = "county = ? AND kind = ? AND g1 = ? AND g2 = ? AND g3 = ? AND member = ?"
_MEMBER_COLUMNS = ("county", "kind", "g1", "g2", "g3", "member", "day", "next_day")
_POINTS_CHUNK = 400


def _neighbours(
    db: Database, points: Sequence[tuple[str, ...]]
) -> dict[tuple[str, ...], tuple[str | None, str | None]]:
    """For each (county, kind, g1, g2, g3, member, day): the member's stored day before
    it and its first stored day on or after it: one query per 400 points on SQLite, one
    on a staged table on PostgreSQL."""
    found: dict[tuple[str, ...], tuple[str | None, str | None]] = {}
    same = " AND ".join(f"m.{c} = v.{c}" for c in ("county", "kind", "g1", "g2", "g3", "member"))
    nearest = (
        "SELECT v.county, v.kind, v.g1, v.g2, v.g3, v.member, v.day, "
        f"(SELECT max(m.day) FROM rollup_members m WHERE {same} AND m.day < v.day), "
        f"(SELECT min(m.day) FROM rollup_members m WHERE {same} AND m.day >= v.day) "
    )
    if _postgres(db):
        stage = db._stage("rollup_members", _MEMBER_COLUMNS[:7], points, "stage_rollup_points")
        for r in db.execute(f"{nearest} FROM {stage} v").fetchall():
            found[tuple(r[:7])] = (r[7], r[8])
        return found
    for start in range(0, len(points), _POINTS_CHUNK):
        chunk = points[start : start + _POINTS_CHUNK]
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        rows = db.execute(
            f"WITH v (county, kind, g1, g2, g3, member, day) AS (VALUES {values}) {nearest} FROM v",
            [value for point in chunk for value in point],
        ).fetchall()
        for r in rows:
            found[tuple(r[:7])] = (r[7], r[8])
    return found


def _add_members(
    db: Database, deltas: _Deltas, points: Iterable[tuple[str, str, tuple[str, str, str], str, str]]
) -> None:
    """Record the days members were active (``points``: county, kind, group, member,
    day), linking each day to the member's next active day, and move a member's
    latest-day counter when one of the days is its new latest day. Set-based: one
    neighbour query per 400 points, one insert and one update statement per batch."""
    flat = sorted({(county, kind, *group, member, day)
                   for county, kind, group, member, day in points})  # fmt: skip
    if not flat:
        return
    near = _neighbours(db, flat)
    by_member: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for point in flat:
        if near[point][1] != point[6]:  # not stored yet
            by_member[point[:6]].append(point[6])
    inserts: list[tuple[str | None, ...]] = []
    updates: list[tuple[str, ...]] = []
    for key, days in by_member.items():
        for i, day in enumerate(days):  # sorted
            before, after = near[(*key, day)]
            later = [d for d in (days[i + 1] if i + 1 < len(days) else None, after) if d]
            following = min(later) if later else None
            inserts.append((*key, day, following))
            if before is not None and (i == 0 or before > days[i - 1]):
                updates.append((day, *key, before))  # the stored day before now leads here
        before, after = near[(*key, days[-1])]
        if after is None:  # the last new day is the member's latest day now
            county, kind, g1, g2, g3 = key[:5]
            table, column = _COUNTERS[kind]
            if before is not None:
                deltas.add(table, county, before, (g1, g2, g3), **{column: -1})
            deltas.add(table, county, days[-1], (g1, g2, g3), **{column: 1})
    columns = ", ".join(_MEMBER_COLUMNS)
    if _postgres(db):  # staged, and only when there is something to write
        if inserts:
            stage = db._stage("rollup_members", _MEMBER_COLUMNS, inserts, "stage_rollup_members")
            db.execute(f"INSERT INTO rollup_members ({columns}) SELECT {columns} FROM {stage}")
        if updates:  # (key, day before, new next day) as rows shaped like rollup_members
            moves = [(*u[1:7], u[7], u[0]) for u in updates]
            stage = db._stage("rollup_members", _MEMBER_COLUMNS, moves, "stage_rollup_next")
            same = " AND ".join(f"m.{c} = s.{c}" for c in _MEMBER_COLUMNS[:7])
            db.execute(f"UPDATE rollup_members m SET next_day = s.next_day FROM {stage} s "
                       f"WHERE {same}")  # fmt: skip
        return
    db._executemany(f"INSERT INTO rollup_members ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    inserts)  # fmt: skip
    db._executemany(
        f"UPDATE rollup_members SET next_day = ? WHERE {_MEMBER_KEY} AND day = ?", updates
    )


# ---- backfill -----------------------------------------------------------------------

TABLES = ("rollup_members", "rollup_certificates", "rollup_rapid_tests")


def backfill_statements(db: Database) -> list[str]:
    """The backfill of migration 0010 (its INSERT statements), for this dialect."""
    from station.migrate import sql_params, statements

    sql = resources.files("station.migrations").joinpath("0010_rollups.sql").read_text("utf-8")
    return [s for s in statements(sql.format(**sql_params(db))) if s.startswith("INSERT")]


def rebuild(db: Database) -> None:
    """Recompute every rollup from the raw rows, in one transaction (after a bulk load
    that bypassed the collector, or to check the upkeep); collectors storing meanwhile
    wait for it on PostgreSQL (SQLite has one writer anyway)."""
    db.lock_schema()
    try:
        if _postgres(db):
            # A collector's batch open meanwhile would add its upkeep to (or race with)
            # the rows deleted here: wait for it to commit, and keep the next one out
            # (even its reads of the member rows) until the rebuild commits; it then
            # adds its own counts to the rebuilt rows (tests/test_rollups_concurrency.py).
            db.execute(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")
        for statement in backfill_statements(db):
            db.execute(statement)
        db.unlock_schema(commit=True)
    except BaseException:
        db.unlock_schema(commit=False)
        raise
    log.info("rollups rebuilt")
