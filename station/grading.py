"""Risk grades and credit of the producers in the ledger (风险分级, 信用档案).

A grade is computed by documented, configurable rules (``GradingRules``; defaults and
their reasons in docs/enforcement.md) from the county's records: confirmed positives at
kiosks, failed official samples, banned inputs declared at a kiosk, market check-ins that
failed, and officer decisions (credit events: 失信, 守信, a grade). Every change of grade
is logged with its causes (``grade_changes``). Grades other than green travel to the
kiosks in the signed hold list (wire/holds.py ``Grade``) and change what bases a kiosk
offers (kiosk/services/county_holds.py).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from station.db import Database
from wire.holds import Grade

GRADES = ("green", "yellow", "red", "untrusted")
CREDIT_KINDS = ("失信", "守信", "grade")


class GradingError(ValueError):
    """Bad rules or a bad credit event; ``str()`` says which key or field."""


@dataclass(frozen=True)
class GradingRules:
    """Thresholds (counts within days). Configurable in ``[grading]`` of a TOML file."""

    red_positives: int = 1  #: confirmed positives at kiosks within red_days
    red_sample_failures: int = 1  #: failed official samples within red_days
    red_banned_inputs: int = 1  #: banned inputs declared at a kiosk within red_days
    red_days: int = 90
    yellow_positives: int = 1  #: confirmed positives within yellow_days (older than red_days)
    yellow_sample_failures: int = 1
    yellow_failed_checkins: int = 2  #: market check-ins of its certificates that failed
    yellow_days: int = 365
    yellow_test_days: int = 7  #: yellow: 质量安全控制 needs a negative test this recent
    contact: str = "县农业农村局农产品质量安全监管股"


def load_rules(path: Path | None) -> GradingRules:
    """Rules from ``[grading]`` of a TOML file (None: the defaults); unknown keys refused."""
    if path is None:
        return GradingRules()
    doc = tomllib.loads(path.read_text("utf-8")).get("grading", {})
    known = {f.name: f.type for f in fields(GradingRules)}
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise GradingError(f"[grading]: unknown keys {unknown}")
    for key, value in doc.items():
        want = str if key == "contact" else int
        if not isinstance(value, want) or isinstance(value, bool):
            raise GradingError(f"[grading] {key}: expected {want.__name__}, got {value!r}")
        if isinstance(value, int) and not 0 <= value <= 3650:
            raise GradingError(f"[grading] {key}: 0..3650, not {value}")
    return GradingRules(**doc)


@dataclass
class Facts:
    positives_recent: int = 0
    positives: int = 0
    failures_recent: int = 0
    failures: int = 0
    banned_recent: int = 0
    failed_checkins: int = 0
    untrusted: str | None = None
    decided: tuple[str, str] | None = None  # (grade, reason) of an officer's decision


def decide(facts: Facts, rules: GradingRules) -> tuple[str, list[str]]:
    """The grade and its causes (pure: the rule table in docs/enforcement.md)."""
    if facts.untrusted is not None:
        return "untrusted", [f"失信：{facts.untrusted}"]
    if facts.decided is not None:
        return facts.decided[0], [f"执法人员决定：{facts.decided[1]}"]
    red, yellow = [], []
    if rules.red_positives and facts.positives_recent >= rules.red_positives:
        red.append(f"{rules.red_days}天内快检确认阳性{facts.positives_recent}次")
    if rules.red_sample_failures and facts.failures_recent >= rules.red_sample_failures:
        red.append(f"{rules.red_days}天内监督抽检不合格{facts.failures_recent}次")
    if rules.red_banned_inputs and facts.banned_recent >= rules.red_banned_inputs:
        red.append(f"{rules.red_days}天内申报使用禁用投入品{facts.banned_recent}次")
    if red:
        return "red", red
    if rules.yellow_positives and facts.positives >= rules.yellow_positives:
        yellow.append(f"{rules.yellow_days}天内快检确认阳性{facts.positives}次")
    if rules.yellow_sample_failures and facts.failures >= rules.yellow_sample_failures:
        yellow.append(f"{rules.yellow_days}天内监督抽检不合格{facts.failures}次")
    if rules.yellow_failed_checkins and facts.failed_checkins >= rules.yellow_failed_checkins:
        yellow.append(f"{rules.yellow_days}天内市场查验未通过{facts.failed_checkins}次")
    return ("yellow", yellow) if yellow else ("green", [])


def _keys(identifiers: set[str]) -> set[str]:
    keys = {i.split(":", 1)[1] for i in identifiers if i.startswith("producer_id:")}
    return keys | {f"tel:{i.split(':', 1)[1]}" for i in identifiers if i.startswith("phone:")}


def _in(column: str, values: set[str]) -> tuple[str, list[str]]:
    items = sorted(values)
    if not items:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in items)})", items


def _banned_by_key(db: Database, county: str, since: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (body,) in db.query(
        "SELECT body FROM events WHERE county = ? AND schema_name = 'alarm.raised' "
        "AND event_time >= ? AND body LIKE ?",
        [county, since, "%banned_input_declared%"],
    ):
        data = json.loads(body).get("data", {})
        if data.get("code") == "banned_input_declared":
            key = str((data.get("detail") or {}).get("producer_key", ""))
            counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class CountyFacts:
    """Everything grading reads, fetched in one query per kind (not per producer)."""

    holds: dict[str, list[str]]  # producer key -> placed_at of confirmed positives
    failed_checkins: dict[str, int]  # producer key -> count
    banned: dict[str, int]  # producer key -> banned inputs declared
    samples: list[tuple[set[str], str]]  # failed samples: identifiers, sampled_on
    credit: dict[str, list[tuple[str, str | None, str, str | None]]]  # by ledger id


def county_facts(db: Database, county: str, rules: GradingRules, now: datetime) -> CountyFacts:
    since = (now - timedelta(days=max(rules.red_days, rules.yellow_days))).isoformat()
    holds: dict[str, list[str]] = {}
    for key, placed_at in db.query(
        "SELECT producer_key, placed_at FROM holds WHERE county = ? AND placed_at >= ?",
        [county, since],
    ):
        holds.setdefault(key, []).append(placed_at)
    failed = {
        str(r[0]): int(r[1])
        for r in db.query(
            "SELECT c.producer_key, count(*) FROM checkins k JOIN certificates c ON "
            "c.county = k.county AND c.number = k.number WHERE k.county = ? AND k.valid = 0 "
            "AND k.checked_at >= ? GROUP BY c.producer_key",
            [county, (now - timedelta(days=rules.yellow_days)).isoformat()],
        )
    }
    samples = [
        (set(json.loads(r[0])), r[1])
        for r in db.query(
            "SELECT identifiers, sampled_on FROM official_samples WHERE county = ? AND "
            "verdict = 'fail' AND sampled_on >= ?",
            [county, since[:10]],
        )
    ]
    credit: dict[str, list[tuple[str, str | None, str, str | None]]] = {}
    for producer_id, kind, grade, reason, expires in db.query(
        "SELECT producer_id, kind, grade, reason, expires_at FROM credit_events WHERE "
        "county = ? AND starts_at <= ? ORDER BY created_at, id",
        [county, now.isoformat()],
    ):
        credit.setdefault(producer_id, []).append((kind, grade, reason, expires))
    return CountyFacts(holds, failed, _banned_by_key(db, county, since), samples, credit)


def facts_for(
    producer_id: str, ids: set[str], county: CountyFacts, rules: GradingRules, now: datetime
) -> Facts:
    """One producer's facts from the county's (pure)."""
    red_since = (now - timedelta(days=rules.red_days)).isoformat()
    yellow_since = (now - timedelta(days=rules.yellow_days)).isoformat()
    keys = _keys(ids)
    facts = Facts()
    for key in keys:
        for placed_at in county.holds.get(key, ()):
            facts.positives += placed_at >= yellow_since
            facts.positives_recent += placed_at >= red_since
        facts.failed_checkins += county.failed_checkins.get(key, 0)
        facts.banned_recent += county.banned.get(key, 0)
    for identifiers, sampled_on in county.samples:
        if identifiers & ids:
            facts.failures += sampled_on >= yellow_since[:10]
            facts.failures_recent += sampled_on >= red_since[:10]
    for kind, grade, reason, expires in county.credit.get(producer_id, ()):
        if expires is not None and expires < now.isoformat():
            continue
        if kind == "失信":
            facts.untrusted = reason
        elif kind == "grade" and grade in GRADES:
            facts.decided = (grade, reason)
    return facts


@dataclass
class GradeRow:
    producer_id: str
    name: str
    grade: str
    causes: list[str]
    identifiers: set[str]


def compute(db: Database, county: str, rules: GradingRules, now: datetime) -> list[GradeRow]:
    """Grade every unmerged ledger producer; store what changed and log it (one transaction).

    A handful of queries whatever the ledger's size (bench/bench_grading.py), and no
    write for a producer whose grade and causes did not change."""
    from station.web.store import transaction

    facts = county_facts(db, county, rules, now)
    ids_of: dict[str, set[str]] = {}
    for producer_id, text in db.query(
        "SELECT i.producer_id, i.identifier FROM producer_identifiers i JOIN ledger_producers "
        "p ON p.county = i.county AND p.producer_id = i.producer_id WHERE i.county = ? AND "
        "p.merged_into IS NULL",
        [county],
    ):
        ids_of.setdefault(producer_id, set()).add(text)
    names = dict(db.query(
        "SELECT producer_id, name FROM ledger_producers WHERE county = ?", [county]))  # fmt: skip
    stored_rows = db.query(
        "SELECT producer_id, grade, causes FROM producer_grades WHERE county = ?", [county]
    )
    old = {r[0]: (r[1], r[2]) for r in stored_rows}
    out = []
    with transaction(db):
        for producer_id, ids in sorted(ids_of.items()):
            grade, causes = decide(facts_for(producer_id, ids, facts, rules, now), rules)
            out.append(GradeRow(producer_id, names.get(producer_id, ""), grade, causes, ids))
            text = json.dumps(causes, ensure_ascii=False)
            before = old.get(producer_id, ("green", "[]"))
            if (grade, text) == before:
                continue
            db.execute(
                "INSERT INTO producer_grades (county, producer_id, grade, causes, computed_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (county, producer_id) DO UPDATE SET "
                "grade = excluded.grade, causes = excluded.causes, "
                "computed_at = excluded.computed_at",
                [county, producer_id, grade, text, now.isoformat()],
            )
            if grade != before[0]:
                db.execute(
                    "INSERT INTO grade_changes (county, producer_id, old_grade, new_grade, "
                    "causes, changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [county, producer_id, before[0], grade, text, now.isoformat()],
                )
    return out


def pushed(rows: list[GradeRow], rules: GradingRules) -> tuple[Grade, ...]:
    """What the kiosks receive: every producer not green, named by all its identifiers."""
    return tuple(
        Grade(
            tuple(sorted(r.identifiers)),
            r.grade,
            "；".join(r.causes)[:200] or r.grade,
            rules.contact,
            rules.yellow_test_days,
        )
        for r in rows
        if r.grade != "green"
    )


def stored(db: Database, county: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT g.producer_id, p.name, g.grade, g.causes, g.computed_at FROM producer_grades g "
        "JOIN ledger_producers p ON p.county = g.county AND p.producer_id = g.producer_id "
        "WHERE g.county = ? AND g.grade <> 'green' ORDER BY g.grade DESC, g.producer_id",
        [county],
    )
    return [{"producer_id": r[0], "name": r[1], "grade": r[2], "causes": json.loads(r[3]),
             "computed_at": r[4]} for r in rows]  # fmt: skip


def add_credit_event(
    db: Database, county: str, *, producer_id: str, kind: str, grade: str | None, reason: str,
    expires_at: datetime | None, by: str, now: datetime,
) -> None:  # fmt: skip
    """An officer's credit record (inside the caller's transaction; audit it there)."""
    if kind not in CREDIT_KINDS:
        raise GradingError(f"信用记录类型应为 {'、'.join(CREDIT_KINDS)}")
    if kind == "grade" and grade not in GRADES:
        raise GradingError("请选择等级")
    if not reason.strip():
        raise GradingError("请填写原因")
    if not db.query(
        "SELECT 1 FROM ledger_producers WHERE county = ? AND producer_id = ?", [county, producer_id]
    ):
        raise GradingError("主体名录中没有这个主体")
    db.execute(
        "INSERT INTO credit_events (county, producer_id, kind, grade, reason, starts_at, "
        "expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [county, producer_id, kind, grade if kind == "grade" else None, reason.strip()[:200],
         now.isoformat(), expires_at.isoformat() if expires_at else None, by, now.isoformat()],
    )  # fmt: skip


def rules_table(rules: GradingRules) -> dict[str, Any]:
    return asdict(rules)
