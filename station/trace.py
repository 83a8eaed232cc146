"""Traces: every certificate of a producer and product in a window, where it was printed,
which markets checked it in, and which buyers re-issued it (样式二 chains).

The answer to "which certificates did this producer issue for this product last week,
and where were they checked in?" (docs/enforcement.md). The producer is named by
identifiers (``kind:value``, wire/holds.py), widened by ``station.holds.producer_identifiers``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from station.db import Database
from wire.holds import ALL_PRODUCTS

#: 样式二 chains are followed this many re-issues deep (a buyer selling to a buyer...).
MAX_CHAIN_DEPTH = 5


@dataclass
class Checkin:
    market: str
    township: str
    checked_at: str
    status: str


@dataclass
class TracedCertificate:
    number: str
    issued_at: str
    device: str
    township: str
    service_point: str
    product_code: str
    product_name: str
    quantity: str
    unit: str
    basis: str
    issuer_name: str
    issuer_phone: str
    origin: str
    inputs_used: list[str]
    test_ref: str | None
    voided: bool
    checkins: list[Checkin] = field(default_factory=list)
    #: Re-issues (样式二) of this certificate, each with its own check-ins and re-issues.
    reissues: list[TracedCertificate] = field(default_factory=list)
    depth: int = 0


def _in(column: str, values: set[str]) -> tuple[str, list[str]]:
    items = sorted(values)
    if not items:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in items)})", items


_SELECT = (
    "SELECT c.number, c.issued_at, c.device, c.township, c.service_point, c.product_code, "
    "c.product_name, c.quantity, c.unit, c.basis, c.issuer_name, c.issuer_phone, c.origin, "
    "c.inputs_used, c.test_ref, CASE WHEN v.number IS NULL THEN 0 ELSE 1 END "
    "FROM certificates c LEFT JOIN certificate_voids v ON v.county = c.county "
    "AND v.number = c.number "
)


def _certificate(row: tuple, depth: int) -> TracedCertificate:
    try:
        inputs = json.loads(row[13] or "[]")
    except json.JSONDecodeError:
        inputs = []
    text = [str(v) for v in row[:13]]
    return TracedCertificate(
        number=text[0], issued_at=text[1], device=text[2], township=text[3],
        service_point=text[4], product_code=text[5], product_name=text[6], quantity=text[7],
        unit=text[8], basis=text[9], issuer_name=text[10], issuer_phone=text[11],
        origin=text[12], inputs_used=list(inputs), test_ref=row[14], voided=bool(row[15]),
        depth=depth,
    )  # fmt: skip


def trace(
    db: Database,
    county: str,
    identifiers: set[str],
    product_code: str,
    first: date,
    last: date,
) -> list[TracedCertificate]:
    """The producer's certificates of the product issued in [first, last], with their
    check-ins and 样式二 re-issues, oldest first."""
    keys = {i.split(":", 1)[1] for i in identifiers if i.startswith("producer_id:")}
    phones = {i.split(":", 1)[1] for i in identifiers if i.startswith("phone:")}
    keys |= {f"tel:{p}" for p in phones}
    by_key, key_params = _in("c.producer_key", keys)
    by_phone, phone_params = _in("c.issuer_phone", phones)
    product = "" if product_code in ("", ALL_PRODUCTS) else "AND c.product_code = ? "
    rows = db.query(
        _SELECT + f"WHERE c.county = ? AND ({by_key} OR {by_phone}) {product}"
        "AND c.day >= ? AND c.day <= ? ORDER BY c.issued_at, c.number",
        [county, *key_params, *phone_params, *([product_code] if product else []),
         first.isoformat(), last.isoformat()],
    )  # fmt: skip
    found = [_certificate(r, 0) for r in rows]
    _attach(db, county, found, 0)
    return found


def _attach(db: Database, county: str, certs: list[TracedCertificate], depth: int) -> None:
    if not certs:
        return
    by_number = {c.number: c for c in certs}
    marks, params = _in("k.number", set(by_number))
    for number, market, township, at, status in db.query(
        "SELECT k.number, m.name, m.township, k.checked_at, k.status FROM checkins k "
        f"JOIN markets m ON m.id = k.market_id WHERE k.county = ? AND {marks} "
        "ORDER BY k.checked_at",
        [county, *params],
    ):
        by_number[number].checkins.append(Checkin(market, township, at, status))
    if depth >= MAX_CHAIN_DEPTH:
        return
    marks, params = _in("s.source_number", set(by_number))
    rows = db.query(
        "SELECT s.source_number, " + _SELECT[len("SELECT ") :]
        + "JOIN certificate_sources s ON s.county = c.county AND s.number = c.number "
        f"WHERE c.county = ? AND {marks} ORDER BY c.issued_at",
        [county, *params],
    )  # fmt: skip
    children = []
    for row in rows:
        child = _certificate(row[1:], depth + 1)
        by_number[row[0]].reissues.append(child)
        children.append(child)
    _attach(db, county, children, depth + 1)


def flatten(certs: list[TracedCertificate]) -> list[TracedCertificate]:
    """Every certificate of the trace, re-issues after their source (for exports)."""
    out: list[TracedCertificate] = []
    for c in certs:
        out.append(c)
        out.extend(flatten(c.reissues))
    return out


EXPORT_HEAD = ["层级", "合格证编号", "开具时间", "开证点", "乡镇", "服务点", "产品", "数量",
               "单位", "承诺依据", "承诺主体", "联系电话", "产地", "检测编号", "已作废",
               "查验市场"]  # fmt: skip


def export_rows(certs: list[TracedCertificate]) -> list[list[object]]:
    return [
        [c.depth, c.number, c.issued_at[:19], c.device, c.township, c.service_point,
         c.product_name, c.quantity, c.unit, c.basis, c.issuer_name, c.issuer_phone, c.origin,
         c.test_ref or "", "是" if c.voided else "",
         "；".join(f"{k.market} {k.checked_at[:16]}" for k in c.checkins)]
        for c in flatten(certs)
    ]  # fmt: skip
