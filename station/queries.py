"""Read queries of the county dashboard and the market pages (no writes here).

Every listing is bounded: a date window (at most ``MAX_WINDOW_DAYS``) or a row
limit. The window figures of certificates and rapid tests come from the rollups of
migration 0010 (station/rollups.py), so a page over two years of a 50-kiosk county
(about 3 million certificates) reads rollup rows; drill-downs read indexed raw rows.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from station import rollups
from station.db import Database

#: Windows are read from per-day/month/year rollups, so three years cost about what
#: one week does.
MAX_WINDOW_DAYS = 1096
KG_PER_UNIT = rollups.KG_PER_UNIT


@dataclass(frozen=True)
class Window:
    """Days ``first..last`` inclusive, as ISO dates (the ``day`` columns)."""

    first: str
    last: str

    @classmethod
    def ending(cls, last: date, days: int) -> Window:
        return cls((last - timedelta(days=days - 1)).isoformat(), last.isoformat())

    @classmethod
    def parse(cls, first: str | None, last: str | None, today: date, default_days: int) -> Window:
        """From form values; bad or reversed dates fall back to the default window."""
        try:
            end = date.fromisoformat(last) if last else today
            start = date.fromisoformat(first) if first else end - timedelta(days=default_days - 1)
        except ValueError:
            return cls.ending(today, default_days)
        if start > end:
            start, end = end, start
        if (end - start).days >= MAX_WINDOW_DAYS:
            start = end - timedelta(days=MAX_WINDOW_DAYS - 1)
        return cls(start.isoformat(), end.isoformat())

    def tail(self, days: int) -> Window:
        """The window's last ``days`` days (all of a shorter window)."""
        last = date.fromisoformat(self.last)
        return Window(max(self.first, (last - timedelta(days=days - 1)).isoformat()), self.last)

    def days(self) -> list[str]:
        start, end = date.fromisoformat(self.first), date.fromisoformat(self.last)
        return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _kg_expr(db: Database) -> str:
    return rollups.kg_expr(db)


# ---- certificates ------------------------------------------------------------------


def certificates_summary(db: Database, window: Window, township: str | None = None) -> dict:
    """Totals, per day, per township and per township × product, for one window, from
    the rollups (station/rollups.py): the same figures as aggregating the certificates,
    at a cost that does not grow with the window's rows."""
    scope = "r.township = ?" if township else "r.township = '*'"
    scope_params = [township] if township else []
    scope += " AND r.product_code = '*' AND r.product_name = '*'"
    by_day = db.query(
        "SELECT r.period, sum(r.issued), sum(r.kg) FROM rollup_certificates r "
        f"WHERE r.grain = 'D' AND r.period BETWEEN ? AND ? AND {scope} GROUP BY r.period",
        [window.first, window.last, *scope_params],
    )
    total = rollups.window_sums(
        db, f"SELECT 1, sum(r.producers) FROM rollup_certificates r WHERE {{window}} AND {scope}",
        window.first, window.last, 1, after=scope_params,
    )  # fmt: skip
    kind = "cert_t" if township else "cert_c"
    total_producers = int(total.get((1,), [0.0])[0]) + sum(
        rollups.members_beyond(db, kind, window.first, window.last, township).values()
    )
    where = "{window} AND r.product_code <> '*' AND r.township <> '*'"
    if township:
        where += " AND r.township = ?"
    grouped = [
        (*k, *v)
        for k, v in rollups.window_sums(
            db,
            "SELECT r.township, r.product_code, r.product_name, sum(r.issued), sum(r.voided), "
            f"sum(r.kg), sum(r.producers) FROM rollup_certificates r WHERE {where} "
            "GROUP BY r.township, r.product_code, r.product_name",
            window.first, window.last, 3, after=scope_params,
        ).items()
    ]  # fmt: skip
    beyond: dict[tuple[str, str, str], int] = defaultdict(int)
    for (_county, *group), n in rollups.members_beyond(
        db, "cert_p", window.first, window.last, township
    ).items():
        beyond[(group[0], group[1], group[2])] += n
    rows = sorted(
        (
            (r[0], r[1], r[2], round(r[3]), round(r[4]), float(r[5]),
             round(r[6]) + beyond[(r[0], r[1], r[2])])
            for r in grouped
            if round(r[3])
        ),
        key=lambda r: (r[0], -r[3]),
    )  # fmt: skip
    per_day = {r[0]: (int(r[1]), float(r[2] or 0)) for r in by_day}
    townships: dict[str, int] = {}
    products: dict[str, int] = {}
    for r in rows:
        townships[r[0]] = townships.get(r[0], 0) + r[3]
        products[r[2]] = products.get(r[2], 0) + r[3]
    return {
        "total": sum(n for n, _ in per_day.values()),
        "tonnes": sum(kg for _, kg in per_day.values()) / 1000,
        "producers": total_producers,
        "days": window.days(),
        "per_day": [per_day.get(d, (0, 0.0))[0] for d in window.days()],
        "tonnes_per_day": [round(per_day.get(d, (0, 0.0))[1] / 1000, 3) for d in window.days()],
        "townships": sorted(townships.items(), key=lambda kv: -kv[1]),
        "products": sorted(products.items(), key=lambda kv: -kv[1])[:10],
        "rows": [
            {"township": r[0], "product_code": r[1], "product": r[2], "issued": r[3],
             "voided": r[4], "tonnes": round(r[5] / 1000, 3), "producers": r[6]}
            for r in rows
        ],
    }  # fmt: skip


def certificates_export(db: Database, window: Window) -> tuple[list[str], list[tuple]]:
    """Per township, product and day: the full breakdown, for CSV/Excel."""
    kg = _kg_expr(db)
    rows = db.query(
        f"SELECT c.day, c.township, c.product_code, c.product_name, count(*), "
        f"sum({kg}), count(DISTINCT c.producer_key) FROM certificates c "
        "WHERE c.day BETWEEN ? AND ? GROUP BY c.day, c.township, c.product_code, "
        "c.product_name ORDER BY c.day, c.township, c.product_code",
        [window.first, window.last],
    )
    head = ["日期", "乡镇", "产品代码", "产品", "开具张数", "重量(吨)", "生产主体数"]
    return head, [(*r[:5], round(float(r[5] or 0) / 1000, 3), r[6]) for r in rows]


# ---- rapid tests -------------------------------------------------------------------


def rapid_tests_summary(db: Database, window: Window) -> dict:
    """Per township, method and product: runs, positives, per-run and per-sample rates,
    from the rollups (per kiosk; a kiosk's township is read from ``devices`` now).

    A sample is (county, device, sample id) with all its runs; it is positive when a
    re-test confirmed it (a first positive alone is recorded as suspicious)."""
    unregistered = "（未登记）"
    totals = {
        k: [round(n) for n in v]
        for k, v in rollups.window_sums(
            db,
            f"SELECT coalesce(d.township, '{unregistered}'), r.method, r.product_code, "
            "sum(r.runs), sum(r.positives), sum(r.invalid), sum(r.samples), sum(r.confirmed) "
            "FROM rollup_rapid_tests r LEFT JOIN devices d ON d.county = r.county "
            "AND d.device_id = r.device WHERE {window} AND r.method <> '*' "
            f"GROUP BY coalesce(d.township, '{unregistered}'), r.method, r.product_code",
            window.first, window.last, 3,
        ).items()
    }  # fmt: skip
    # Samples active again after the window's end (none when it ends today), per kiosk.
    places: dict[tuple[str, str], str] | None = None
    for index, kind in ((3, "test_s"), (4, "test_c")):
        for (county, device, method, product), n in rollups.members_beyond(
            db, kind, window.first, window.last
        ).items():
            if places is None:
                places = {(r[0], r[1]): r[2] for r in db.query(
                    "SELECT county, device_id, township FROM devices")}  # fmt: skip
            township = places.get((county, device)) or unregistered
            totals.setdefault((township, method, product), [0] * 5)[index] += n
    out = []
    methods: dict[str, list[int]] = {}
    for (township, method, product), (runs, pos, invalid, samples, confirmed) in sorted(
        totals.items()
    ):
        if not runs:
            continue
        valid = runs - invalid
        out.append(
            {"township": township, "method": method, "product_code": product, "runs": runs,
             "positives": pos, "invalid": invalid, "samples": samples, "confirmed": confirmed,
             "run_rate": round(100.0 * pos / valid, 2) if valid else None,
             "sample_rate": round(100.0 * confirmed / samples, 2) if samples else None}
        )  # fmt: skip
        m = methods.setdefault(method, [0, 0])
        m[0] += runs
        m[1] += pos
    return {
        "rows": out,
        "methods": sorted(methods.items()),
        "runs": sum(r["runs"] for r in out),
        "positives": sum(r["positives"] for r in out),
    }


# ---- holds -------------------------------------------------------------------------


def open_holds(db: Database, limit: int = 500) -> list[dict]:
    rows = db.query(
        "SELECT h.county, h.device, h.hold_id, h.producer_key, h.product_code, h.reason, "
        "h.placed_at, d.township FROM holds h LEFT JOIN devices d ON d.county = h.county "
        "AND d.device_id = h.device WHERE NOT EXISTS (SELECT 1 FROM hold_lifts l "
        "WHERE l.county = h.county AND l.device = h.device AND l.hold_id = h.hold_id) "
        "ORDER BY h.placed_at DESC LIMIT ?",
        [limit],
    )
    return [
        {"county": r[0], "device": r[1], "hold_id": r[2], "producer_key": r[3],
         "product_code": r[4], "reason": r[5], "placed_at": r[6], "township": r[7]}
        for r in rows
    ]  # fmt: skip


# ---- the fleet and its alarms ------------------------------------------------------


@dataclass
class OpenAlarm:
    county: str
    device: str
    seq: int
    code: str
    severity: str
    message: str
    time: str
    acked_by: str | None = None


@dataclass
class AlarmBook:
    """Open alarms per device, kept up to date from the events incrementally.

    Reading every alarm event of two years on each page would cost seconds; the book
    reads what arrived since its last look (by ``received_at``, with an overlap so a
    batch committed out of order is not missed) and keeps the latest state per code.
    """

    overlap_s: float = 120.0
    _latest: dict[tuple[str, str, str], tuple[int, bool, dict, str]] = field(default_factory=dict)
    _watermark: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, db: Database) -> None:
        with self._lock:
            since = _minus_seconds(self._watermark, self.overlap_s) if self._watermark else ""
            rows = db.query(
                "SELECT county, device, seq, schema_name, event_time, received_at, body "
                "FROM events WHERE schema_name IN ('alarm.raised', 'alarm.cleared') "
                "AND received_at >= ? ORDER BY received_at",
                [since],
            )
            for county, device, seq, schema, event_time, received, body in rows:
                data = json.loads(body).get("data", {})
                code = data.get("code")
                if not isinstance(code, str):
                    continue
                key = (county, device, code)
                known = self._latest.get(key)
                if known is None or int(seq) > known[0]:
                    self._latest[key] = (int(seq), schema == "alarm.raised", data, event_time)
                if received > self._watermark:
                    self._watermark = received

    def open(self, db: Database) -> list[OpenAlarm]:
        self.refresh(db)
        acks = {
            (r[0], r[1], int(r[2])): r[3]
            for r in db.query("SELECT county, device, seq, acked_by FROM alarm_acks")
        }
        with self._lock:
            items = [
                OpenAlarm(c, d, seq, code, str(data.get("severity", "")),
                          str(data.get("message", "")), t, acks.get((c, d, seq)))
                for (c, d, code), (seq, is_open, data, t) in self._latest.items()
                if is_open
            ]  # fmt: skip
        return sorted(items, key=lambda a: a.time, reverse=True)


def _minus_seconds(iso: str, seconds: float) -> str:
    from datetime import datetime

    return (datetime.fromisoformat(iso) - timedelta(seconds=seconds)).isoformat(
        timespec="milliseconds"
    )


def fleet(db: Database, county: str, alarms: Sequence[OpenAlarm]) -> list[dict]:
    """Each kiosk: township, last seen, versions, backlog, open alarms."""
    rows = db.query(
        "SELECT d.device_id, d.township, d.service_point, s.status, s.software_version, "
        "s.config_version, s.backlog, s.state_time FROM devices d LEFT JOIN device_state s "
        "ON s.county = d.county AND s.device = d.device_id WHERE d.county = ? "
        "UNION SELECT s.device, NULL, NULL, s.status, s.software_version, s.config_version, "
        "s.backlog, s.state_time FROM device_state s WHERE s.county = ? AND NOT EXISTS "
        "(SELECT 1 FROM devices d WHERE d.county = s.county AND d.device_id = s.device) "
        "ORDER BY 1",
        [county, county],
    )
    by_device: dict[str, list[OpenAlarm]] = {}
    for a in alarms:
        if a.county == county:
            by_device.setdefault(a.device, []).append(a)
    return [
        {"device": r[0], "township": r[1] or "（未登记）", "service_point": r[2] or "",
         "status": r[3] or "never_seen", "software_version": r[4] or "",
         "config_version": r[5] or "", "backlog": r[6], "last_seen": r[7] or "",
         "alarms": sorted(a.code for a in by_device.get(r[0], []))}
        for r in rows
    ]  # fmt: skip


# ---- drill-downs -------------------------------------------------------------------


def certificate_detail(db: Database, county: str, number: str) -> dict | None:
    rows = db.query(
        "SELECT e.body, e.received_at FROM certificates c JOIN events e ON e.county = c.county "
        "AND e.event_id = c.event_id WHERE c.county = ? AND c.number = ?",
        [county, number],
    )
    if not rows:
        return None
    data = json.loads(rows[0][0])["data"]
    void = db.query(
        "SELECT reason, voided_at FROM certificate_voids WHERE county = ? AND number = ?",
        [county, number],
    )
    checks = db.query(
        "SELECT k.checked_at, m.name, k.status, k.mode FROM checkins k JOIN markets m "
        "ON m.id = k.market_id WHERE k.county = ? AND k.number = ? ORDER BY k.checked_at",
        [county, number],
    )
    return {"data": data, "received_at": rows[0][1], "void": void[0] if void else None,
            "checkins": checks}  # fmt: skip


def producer_detail(db: Database, county: str, producer_key: str, limit: int = 200) -> dict:
    certs = db.query(
        "SELECT number, day, product_name, quantity, unit, township, device FROM certificates "
        "WHERE county = ? AND producer_key = ? ORDER BY issued_at DESC LIMIT ?",
        [county, producer_key, limit],
    )
    tests = db.query(
        "SELECT test_id, day, product_code, method, analyte, verdict, device FROM rapid_tests "
        "WHERE county = ? AND producer_key = ? ORDER BY day DESC LIMIT ?",
        [county, producer_key, limit],
    )
    holds = db.query(
        "SELECT h.device, h.hold_id, h.product_code, h.reason, h.placed_at, l.lifted_at "
        "FROM holds h LEFT JOIN hold_lifts l ON l.county = h.county AND l.device = h.device "
        "AND l.hold_id = h.hold_id WHERE h.county = ? AND h.producer_key = ? "
        "ORDER BY h.placed_at DESC",
        [county, producer_key],
    )
    return {"certificates": certs, "tests": tests, "holds": holds}


def kiosk_certificates(db: Database, county: str, device: str, limit: int = 100) -> list:
    return db.query(
        "SELECT number, day, product_name, quantity, unit FROM certificates "
        "WHERE county = ? AND device = ? ORDER BY day DESC, number DESC LIMIT ?",
        [county, device, limit],
    )


def find_certificates(db: Database, county: str, text: str, limit: int = 50) -> list:
    """By number (exact or prefix)."""
    return db.query(
        "SELECT number, day, township, product_name, quantity, unit FROM certificates "
        "WHERE county = ? AND number >= ? AND number < ? ORDER BY number LIMIT ?",
        [county, text, text + "\uffff", limit],
    )


# ---- markets -----------------------------------------------------------------------


def market_stats(db: Database, window: Window, market_id: int | None = None) -> list[dict]:
    """Per market and day: checked, valid, invalid, without certificate."""
    where = "k.day BETWEEN ? AND ?"
    params: list[Any] = [window.first, window.last]
    u_where = "u.day BETWEEN ? AND ?"
    u_params: list[Any] = [window.first, window.last]
    if market_id is not None:
        where += " AND k.market_id = ?"
        params.append(market_id)
        u_where += " AND u.market_id = ?"
        u_params.append(market_id)
    # Grouped in the order of the day-led covering indexes (migration 0012): one pass
    # over the window's index entries, no sort.
    checked = db.query(
        "SELECT k.market_id, k.day, count(*), sum(k.valid) FROM checkins k "
        f"WHERE {where} GROUP BY k.day, k.market_id",
        params,
    )
    without = db.query(
        f"SELECT u.market_id, u.day, count(*) FROM uncertified_reports u WHERE {u_where} "
        "GROUP BY u.day, u.market_id",
        u_params,
    )
    names = {int(r[0]): r[1] for r in db.query("SELECT id, name FROM markets")}
    table: dict[tuple[int, str], dict] = {}
    for mid, day, count, valid in checked:
        table[(int(mid), day)] = {
            "market": names.get(int(mid), "?"),
            "day": day,
            "checked": int(count),
            "valid": int(valid or 0),
            "invalid": int(count) - int(valid or 0),
            "without": 0,
        }
    for mid, day, count in without:
        entry = table.setdefault(
            (int(mid), day),
            {"market": names.get(int(mid), "?"), "day": day, "checked": 0, "valid": 0,
             "invalid": 0, "without": 0},
        )  # fmt: skip
        entry["without"] = int(count)
    return sorted(table.values(), key=lambda e: (e["day"], e["market"]), reverse=True)


def checkins_per_day(db: Database, window: Window) -> dict[str, int]:
    """Check-ins per day over every market (the markets page's chart): read from the day
    index alone, a third of the cost of market_stats' market x day rows."""
    rows = db.query(
        "SELECT day, count(*) FROM checkins WHERE day BETWEEN ? AND ? GROUP BY day",
        [window.first, window.last],
    )
    return {day: int(count) for day, count in rows}


#: Days at the end of a window searched for certificates checked at several markets:
#: grouping two years of check-ins (~460,000) by certificate took over a second, and a
#: lot is sold on within days of its certificate's issue. The page names the days.
SEVERAL_MARKETS_DAYS = 31


def certificates_at_several_markets(db: Database, window: Window, limit: int = 100) -> list:
    """Certificates checked at two or more markets within ``window``: produce split or a
    label copied (the dashboard passes its window's last SEVERAL_MARKETS_DAYS)."""
    return db.query(
        "SELECT k.county, k.number, count(DISTINCT k.market_id), min(k.checked_at), "
        "max(k.checked_at) FROM checkins k WHERE k.day BETWEEN ? AND ? "
        "GROUP BY k.county, k.number HAVING count(DISTINCT k.market_id) > 1 "
        "ORDER BY max(k.checked_at) DESC LIMIT ?",
        [window.first, window.last, limit],
    )


def recent_checkins(db: Database, market_id: int | None, limit: int = 50) -> list:
    where, params = ("WHERE k.market_id = ?", [market_id]) if market_id is not None else ("", [])
    return db.query(
        "SELECT k.checked_at, m.name, k.number, k.status, k.mode, a.display_name "
        "FROM checkins k JOIN markets m ON m.id = k.market_id JOIN accounts a "
        f"ON a.id = k.account_id {where} ORDER BY k.id DESC LIMIT ?",
        [*params, limit],
    )


def recent_uncertified(db: Database, market_id: int | None, limit: int = 50) -> list:
    where, params = ("WHERE u.market_id = ?", [market_id]) if market_id is not None else ("", [])
    return db.query(
        "SELECT u.id, u.reported_at, m.name, u.product, u.quantity, u.supplier, "
        "CASE WHEN u.photo IS NULL THEN 0 ELSE 1 END, a.display_name FROM "
        "uncertified_reports u JOIN markets m ON m.id = u.market_id JOIN accounts a "
        f"ON a.id = u.account_id {where} ORDER BY u.id DESC LIMIT ?",
        [*params, limit],
    )


# ---- overview ----------------------------------------------------------------------


def overview(db: Database, today: str) -> dict:
    def one(sql: str, params: Sequence[Any]) -> int:
        return int(db.query(sql, params)[0][0] or 0)

    return {
        "certificates_today": one("SELECT count(*) FROM certificates WHERE day = ?", [today]),
        "tests_today": one("SELECT count(*) FROM rapid_tests WHERE day = ?", [today]),
        "positives_today": one(
            "SELECT count(*) FROM rapid_tests WHERE day = ? AND verdict = 'positive'", [today]
        ),
        "open_holds": one(
            "SELECT count(*) FROM holds h WHERE NOT EXISTS (SELECT 1 FROM hold_lifts l WHERE "
            "l.county = h.county AND l.device = h.device AND l.hold_id = h.hold_id)",
            [],
        ),
        "checkins_today": one("SELECT count(*) FROM checkins WHERE day = ?", [today]),
        "uncertified_today": one("SELECT count(*) FROM uncertified_reports WHERE day = ?", [today]),
    }


def townships(db: Database, county: str) -> list[str]:
    return [
        r[0]
        for r in db.query(
            "SELECT DISTINCT township FROM devices WHERE county = ? ORDER BY township", [county]
        )
    ]
