"""The producer ledger (主体名录): one record per producer of the county.

Filled from the certificates the kiosks report (each producer key a kiosk used, with the
name and phone it printed), from the county roster and from national 主体码 imports
(CSV). A producer is known by identifiers (``kind:value`` as in wire/holds.py); two
records sharing one (same phone, 主体码 or ID number) are a **duplicate**, shown to an
officer, who merges them: the survivor takes the other's identifiers, the other keeps a
``merged_into`` pointer, and the merge is audited. County holds widen their identifiers
through the ledger (station/holds.py), so a merge makes a hold reach every identifier.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from station.db import Database
from station.devices import bump_version
from wire.holds import IDENTIFIER_KINDS, identifier, producer_key_identifiers

KINDS = ("企业", "合作社", "家庭农场", "农户")
#: Roster columns: key and the headers a roster or a national export may use.
COLUMNS = {
    "name": ("name", "名称", "主体名称", "姓名"),
    "kind": ("kind", "类型", "主体类型"),
    "township": ("township", "乡镇"),
    "products": ("products", "产品", "主要产品"),
    "phone": ("phone", "手机号", "联系电话"),
    "platform_code": ("platform_code", "主体码"),
    "id_number": ("id_number", "身份证号", "统一社会信用代码"),
}
MAX_ROWS = 20000


class LedgerError(ValueError):
    """A ledger change cannot be made; ``str()`` says why in plain words."""


@dataclass
class LedgerProducer:
    producer_id: str
    name: str
    kind: str
    township: str
    products: str
    source: str
    identifiers: list[str] = field(default_factory=list)
    certificates: int = 0


def _new_id(db: Database, county: str) -> str:
    return f"L{bump_version(db, county, 'ledger'):07d}"


def add_producer(
    db: Database,
    county: str,
    *,
    name: str,
    kind: str,
    township: str,
    products: str,
    source: str,
    identifiers: set[str],
    now: datetime,
) -> str:
    """One new ledger record (inside the caller's transaction)."""
    if kind not in KINDS:
        raise LedgerError(f"主体类型应为 {'、'.join(KINDS)}")
    producer_id = _new_id(db, county)
    db.execute(
        "INSERT INTO ledger_producers (county, producer_id, name, kind, township, products, "
        "source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [county, producer_id, name[:50], kind, township[:32], products[:200], source,
         now.isoformat()],
    )  # fmt: skip
    for text in sorted(identifiers | {identifier("producer_id", producer_id)}):
        db.execute(
            "INSERT INTO producer_identifiers (county, producer_id, identifier) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [county, producer_id, text],
        )
    return producer_id


def known_identifiers(db: Database, county: str) -> set[str]:
    return {r[0] for r in db.query(
        "SELECT identifier FROM producer_identifiers WHERE county = ?", [county])}  # fmt: skip


def sync_from_certificates(db: Database, county: str, now: datetime) -> int:
    """A ledger record for every producer key the kiosks used that the ledger lacks."""
    known = known_identifiers(db, county)
    keys = [r[0] for r in db.query(
        "SELECT DISTINCT producer_key FROM certificates WHERE county = ?", [county])]  # fmt: skip
    added = 0
    for key in keys:
        ids = producer_key_identifiers(key)
        if ids & known:
            continue
        row = db.query(
            "SELECT issuer_name, issuer_phone, township, style FROM certificates "
            "WHERE county = ? AND producer_key = ? ORDER BY issued_at DESC LIMIT 1",
            [county, key],
        )[0]
        if row[3] == "style2":
            continue  # a buyer (收购者) re-issuing, not a producer
        if row[1]:
            ids.add(identifier("phone", row[1]))
        add_producer(db, county, name=row[0] or key, kind="农户", township=row[2] or "",
                     products="", source="kiosk", identifiers=ids, now=now)  # fmt: skip
        known |= ids
        added += 1
    return added


def parse_roster(data: bytes) -> tuple[list[dict[str, str]], list[str]]:
    """Rows of a roster CSV (county roster or national 主体码 export), errors by row."""
    try:
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        return [], [f"无法读取文件：{error}"]
    if not table:
        return [], ["文件是空的"]
    keys = {}
    for position, name in enumerate(h.strip() for h in table[0]):
        for key, names in COLUMNS.items():
            if name in names:
                keys[position] = key
    rows, errors = [], []
    for number, raw in enumerate(table[1 : MAX_ROWS + 1], start=2):
        row = {keys[i]: c.strip() for i, c in enumerate(raw) if i in keys}
        if not any(row.values()):
            continue
        if not row.get("name"):
            errors.append(f"第{number}行：缺少名称")
        elif row.get("kind", "农户") not in KINDS:
            errors.append(f"第{number}行：主体类型应为 {'、'.join(KINDS)}")
        elif not any(row.get(k) for k in ("phone", "platform_code", "id_number")):
            errors.append(f"第{number}行：至少需要手机号、主体码或身份证号之一")
        else:
            rows.append(row)
    return rows, errors


def import_roster(
    db: Database, county: str, rows: list[dict[str, str]], source: str, now: datetime
) -> int:
    """Records for roster rows whose identifiers are not all known yet (inside a transaction)."""
    known = known_identifiers(db, county)
    added = 0
    for row in rows:
        ids = {identifier(k, row[k]) for k in IDENTIFIER_KINDS if row.get(k)}
        if ids <= known:
            continue
        add_producer(db, county, name=row["name"], kind=row.get("kind") or "农户",
                     township=row.get("township", ""), products=row.get("products", ""),
                     source=source, identifiers=ids, now=now)  # fmt: skip
        known |= ids
        added += 1
    return added


def producers(
    db: Database, county: str, search: str = "", limit: int = 200
) -> list[LedgerProducer]:
    like = f"%{search.strip()}%"
    rows = db.query(
        "SELECT p.producer_id, p.name, p.kind, p.township, p.products, p.source FROM "
        "ledger_producers p WHERE p.county = ? AND p.merged_into IS NULL AND (p.name LIKE ? "
        "OR EXISTS (SELECT 1 FROM producer_identifiers i WHERE i.county = p.county AND "
        "i.producer_id = p.producer_id AND i.identifier LIKE ?)) ORDER BY p.producer_id LIMIT ?",
        [county, like, like, limit],
    )
    found = [LedgerProducer(*r) for r in rows]
    _fill(db, county, found)
    return found


def _fill(db: Database, county: str, found: list[LedgerProducer]) -> None:
    by_id = {p.producer_id: p for p in found}
    if not by_id:
        return
    marks = ", ".join("?" for _ in by_id)
    for producer_id, text in db.query(
        f"SELECT producer_id, identifier FROM producer_identifiers WHERE county = ? "
        f"AND producer_id IN ({marks}) ORDER BY identifier",
        [county, *by_id],
    ):
        by_id[producer_id].identifiers.append(text)


def duplicates(
    db: Database, county: str, limit: int = 100
) -> list[tuple[str, list[LedgerProducer]]]:
    """Identifiers (other than ledger ids) shared by two or more unmerged records."""
    rows = db.query(
        "SELECT i.identifier FROM producer_identifiers i JOIN ledger_producers p ON "
        "p.county = i.county AND p.producer_id = i.producer_id WHERE i.county = ? AND "
        "p.merged_into IS NULL AND i.identifier NOT LIKE ? "
        "GROUP BY i.identifier HAVING count(*) > 1 ORDER BY i.identifier LIMIT ?",
        [county, "producer_id:L%", limit],
    )
    out = []
    for (text,) in rows:
        members = db.query(
            "SELECT p.producer_id, p.name, p.kind, p.township, p.products, p.source FROM "
            "ledger_producers p JOIN producer_identifiers i ON i.county = p.county AND "
            "i.producer_id = p.producer_id WHERE p.county = ? AND i.identifier = ? AND "
            "p.merged_into IS NULL ORDER BY p.producer_id",
            [county, text],
        )
        group = [LedgerProducer(*m) for m in members]
        _fill(db, county, group)
        out.append((text, group))
    return out


def merge(db: Database, county: str, survivor: str, merged: str) -> None:
    """``merged`` becomes part of ``survivor`` (inside the caller's transaction)."""
    if survivor == merged:
        raise LedgerError("不能与自身合并")
    live = {r[0] for r in db.query(
        "SELECT producer_id FROM ledger_producers WHERE county = ? AND merged_into IS NULL "
        "AND producer_id IN (?, ?)", [county, survivor, merged])}  # fmt: skip
    if live != {survivor, merged}:
        raise LedgerError("主体不存在或已合并")
    for (text,) in db.query(
        "SELECT identifier FROM producer_identifiers WHERE county = ? AND producer_id = ?",
        [county, merged],
    ):
        db.execute(
            "INSERT INTO producer_identifiers (county, producer_id, identifier) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [county, survivor, text],
        )
    db.execute(
        "UPDATE ledger_producers SET merged_into = ? WHERE county = ? AND producer_id = ?",
        [survivor, county, merged],
    )
