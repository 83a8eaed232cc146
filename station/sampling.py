"""Official sampling results (监督抽检 / 例行监测): entered by an officer or imported from a
lab's CSV or Excel file. A failed sample places a county-wide hold on the producer and
product (source ``official_sample``) and traces its certificates from ``TRACE_BEFORE_DAYS``
before sampling until now (docs/enforcement.md)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from station import holds as county_holds
from station.db import Database
from wire.holds import IDENTIFIER_KINDS, identifier

#: A failed sample traces certificates issued from this many days before sampling.
TRACE_BEFORE_DAYS = 7
VERDICTS = {"合格": "pass", "不合格": "fail", "pass": "pass", "fail": "fail"}
PROGRAMS = {"监督抽检": "supervision", "例行监测": "routine", "supervision": "supervision",
            "routine": "routine"}  # fmt: skip
#: Import columns: the English key and the Chinese headers a lab's sheet may use.
COLUMNS = {
    "sample_no": ("sample_no", "样品编号"),
    "program": ("program", "抽检类型"),
    "producer_name": ("producer_name", "受检主体"),
    "phone": ("phone", "联系电话", "手机号"),
    "platform_code": ("platform_code", "主体码"),
    "id_number": ("id_number", "身份证号", "统一社会信用代码"),
    "producer_id": ("producer_id", "主体编号"),
    "product_code": ("product_code", "产品代码"),
    "product_name": ("product_name", "产品名称"),
    "place": ("place", "抽样地点"),
    "sampled_on": ("sampled_on", "抽样日期"),
    "lab": ("lab", "检测机构"),
    "report_no": ("report_no", "报告编号"),
    "substance": ("substance", "检测项目"),
    "value": ("value", "检测值"),
    "limit": ("limit", "限量"),
    "unit": ("unit", "单位"),
    "verdict": ("verdict", "判定"),
}
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
MAX_IMPORT_ROWS = 5000


class SampleError(ValueError):
    """A sample row cannot be recorded; ``str()`` names the field in plain words."""


@dataclass(frozen=True)
class SampleEntry:
    sample_no: str
    program: str
    producer_name: str
    identifiers: tuple[str, ...]
    product_code: str
    product_name: str
    place: str
    sampled_on: date
    lab: str
    report_no: str
    substance: str
    value: str
    limit: str
    unit: str
    verdict: str

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"


def _need(values: dict[str, str], key: str, label: str, limit: int = 64) -> str:
    text = (values.get(key) or "").strip()
    if not text:
        raise SampleError(f"请填写{label}")
    if len(text) > limit:
        raise SampleError(f"{label}过长（{limit}字以内）")
    return text


def entry_from(values: dict[str, str]) -> SampleEntry:
    """A checked entry from form fields or an import row (keys as in ``COLUMNS``)."""
    ids = tuple(
        identifier(kind, values[kind].strip())
        for kind in IDENTIFIER_KINDS
        if (values.get(kind) or "").strip()
    )
    if not ids:
        raise SampleError("请至少填写受检主体的一个标识（手机号、主体码、身份证号或主体编号）")
    verdict = VERDICTS.get((values.get("verdict") or "").strip())
    if verdict is None:
        raise SampleError("判定应为 合格 或 不合格")
    program = PROGRAMS.get((values.get("program") or "监督抽检").strip())
    if program is None:
        raise SampleError("抽检类型应为 监督抽检 或 例行监测")
    try:
        sampled_on = date.fromisoformat(_need(values, "sampled_on", "抽样日期", 10))
    except ValueError:
        raise SampleError("抽样日期应为 YYYY-MM-DD") from None
    value, limit = _need(values, "value", "检测值", 20), _need(values, "limit", "限量", 20)
    for label, number in (("检测值", value), ("限量", limit)):
        if not _NUMBER.match(number) and number not in ("未检出", "ND"):
            raise SampleError(f"{label}应为数字（或 未检出）")
    return SampleEntry(
        sample_no=_need(values, "sample_no", "样品编号"),
        program=program,
        producer_name=_need(values, "producer_name", "受检主体", 50),
        identifiers=ids,
        product_code=_need(values, "product_code", "产品代码", 32),
        product_name=_need(values, "product_name", "产品名称", 32),
        place=_need(values, "place", "抽样地点", 100),
        sampled_on=sampled_on,
        lab=_need(values, "lab", "检测机构", 100),
        report_no=_need(values, "report_no", "报告编号"),
        substance=_need(values, "substance", "检测项目"),
        value=value,
        limit=limit,
        unit=(values.get("unit") or "mg/kg").strip()[:16],
        verdict=verdict,
    )


@dataclass
class Recorded:
    sample_id: int
    hold_id: str | None
    duplicate: bool = False


def record(db: Database, county: str, entry: SampleEntry, officer: str, now: datetime) -> Recorded:
    """Store one result inside the caller's transaction; a failure places the hold."""
    from station.web.store import insert_returning_id

    known = db.query(
        "SELECT id, hold_id FROM official_samples WHERE county = ? AND sample_no = ? "
        "AND substance = ?",
        [county, entry.sample_no, entry.substance],
    )
    if known:
        return Recorded(int(known[0][0]), known[0][1], duplicate=True)
    sample_id = insert_returning_id(
        db,
        "INSERT INTO official_samples (county, sample_no, program, producer_name, identifiers, "
        "product_code, product_name, place, sampled_on, lab, report_no, substance, value, "
        "limit_value, unit, verdict, entered_by, entered_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [county, entry.sample_no, entry.program, entry.producer_name,
         json.dumps(list(entry.identifiers), ensure_ascii=False), entry.product_code,
         entry.product_name, entry.place, entry.sampled_on.isoformat(), entry.lab,
         entry.report_no, entry.substance, entry.value, entry.limit, entry.unit, entry.verdict,
         officer, now.isoformat()],
    )  # fmt: skip
    hold_id = None
    if entry.failed:
        first = datetime.combine(entry.sampled_on, datetime.min.time(), now.tzinfo)
        hold_id = county_holds.place_hold(
            db, county, identifiers=entry.identifiers, product_code=entry.product_code,
            reason=(f"监督抽检不合格：{entry.substance} {entry.value}{entry.unit}"
                    f"（限量 {entry.limit}），报告 {entry.report_no}"),
            source="official_sample", placed_by=officer, now=now, sample_id=sample_id,
            trace_from=first - timedelta(days=TRACE_BEFORE_DAYS),
        )  # fmt: skip
        db.execute("UPDATE official_samples SET hold_id = ? WHERE id = ?", [hold_id, sample_id])
    return Recorded(sample_id, hold_id)


@dataclass
class ImportResult:
    entries: list[SampleEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _rows_of(data: bytes, filename: str) -> list[dict[str, str]]:
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        if sheet is None:
            return []
        table = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    else:
        text = data.decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text)))
    if not table:
        return []
    header = [h.strip() for h in table[0]]
    keys = {}
    for position, name in enumerate(header):
        for key, names in COLUMNS.items():
            if name in names:
                keys[position] = key
    return [
        {keys[i]: cell for i, cell in enumerate(row) if i in keys}
        for row in table[1 : MAX_IMPORT_ROWS + 1]
        if any(cell.strip() for cell in row)
    ]


def parse_import(data: bytes, filename: str) -> ImportResult:
    """Every row checked; errors name the row (the header is row 1)."""
    result = ImportResult()
    try:
        rows = _rows_of(data, filename)
    except (UnicodeDecodeError, csv.Error, ValueError, OSError) as error:
        result.errors.append(f"无法读取文件：{error}")
        return result
    for number, row in enumerate(rows, start=2):
        try:
            result.entries.append(entry_from(row))
        except SampleError as error:
            result.errors.append(f"第{number}行：{error}")
    return result


def recent(db: Database, county: str, limit: int = 200) -> list[dict]:
    rows = db.query(
        "SELECT id, sample_no, program, producer_name, identifiers, product_name, place, "
        "sampled_on, lab, report_no, substance, value, limit_value, unit, verdict, hold_id "
        "FROM official_samples WHERE county = ? ORDER BY sampled_on DESC, id DESC LIMIT ?",
        [county, limit],
    )
    keys = ["id", "sample_no", "program", "producer_name", "identifiers", "product_name",
            "place", "sampled_on", "lab", "report_no", "substance", "value", "limit", "unit",
            "verdict", "hold_id"]  # fmt: skip
    out = []
    for r in rows:
        item = dict(zip(keys, r, strict=True))
        item["identifiers"] = json.loads(item["identifiers"])
        out.append(item)
    return out
