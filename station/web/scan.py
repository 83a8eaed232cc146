"""What the scan page says about one certificate: the signature, then the county's records.

The order of the checks is the law's order of importance, and a status is one of:

========================  ==========================================================
``valid``                 有效: signature good, record at the county, not voided, held or old
``not_uploaded``          签名有效，记录尚未上传: the kiosk has not reached the county yet
``voided``                已作废: the issuing kiosk voided it
``traced``                该批次已被追溯: the certificate is in a county hold's trace
``suspended``             该主体已暂停开证: a hold covers this producer and product
``expired``               已过期: older than ``verify.valid_days``
``bad_signature``         签名无效: altered, forged, or signed by a revoked key
``unknown_kiosk``         未知开证点: no kiosk of the county by that name
``malformed``             not a certificate QR at all
========================  ==========================================================

Holds (``lookup_holds``, one query): a kiosk's own holds (producer + product at that
kiosk), the county-wide holds naming the producer by any identifier, and the traces
(scope ``trace``) that list this very certificate or one of its sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from station.db import Database
from station.trace import MAX_CHAIN_DEPTH
from wire.holds import identifier, producer_key_identifiers
from wire.qr import CertificateFields
from wire.verify import Reason, Verdict


class Status(StrEnum):
    VALID = "valid"
    NOT_UPLOADED = "not_uploaded"
    VOIDED = "voided"
    TRACED = "traced"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KIOSK = "unknown_kiosk"
    MALFORMED = "malformed"
    #: A signed 快速检测结果单: genuine, but not a certificate (wire/qr.py SLIP_BASIS).
    RAPIDTEST_SLIP = "rapidtest_slip"


#: (headline, what it means, tone): tone picks the colour (ok, warn, bad).
STATUS_TEXT: dict[Status, tuple[str, str, str]] = {
    Status.VALID: ("有效", "签名核验通过，县级平台有开具记录，未作废、未暂停。", "ok"),
    Status.RAPIDTEST_SLIP: (
        "快速检测结果单（真实）",
        "签名核验通过：这是乡镇快检站出具的快速检测结果单，内容未被改动。它不是合格证，"
        "不能作为上市凭证；快检结果以确证检测为准。",
        "warn",
    ),
    Status.NOT_UPLOADED: (
        "签名有效，记录尚未上传",
        "合格证由登记在册的开证点签发、内容未被改动；开证点的记录尚未上传到县级平台"
        "（开证点离线时常见），上传后即可查到。",
        "ok",
    ),
    Status.VOIDED: ("已作废", "开证点已将此合格证作废，不能再作为上市凭证。", "bad"),
    Status.TRACED: (
        "该批次已被追溯",
        "该批次产品所属主体已被县级监管部门暂停开证并追溯（抽检不合格或快检确认阳性），"
        "请暂停销售、封存产品，并联系当地农业农村部门。",
        "bad",
    ),
    Status.SUSPENDED: (
        "该主体已暂停开证",
        "该生产主体的这种产品因快速检测阳性等原因被暂停开证，请暂缓收购或上市，并联系监管部门。",
        "bad",
    ),
    Status.EXPIRED: ("已过期", "合格证开具已超过有效期，请向生产主体索取新开具的合格证。", "warn"),
    Status.BAD_SIGNATURE: (
        "签名无效",
        "二维码内容与开证点签名不符，可能被改动、伪造，或开证点密钥已注销。请勿采信。",
        "bad",
    ),
    Status.UNKNOWN_KIOSK: (
        "未知开证点",
        "本县登记的开证点中没有开具此合格证的终端，无法核实真伪。",
        "bad",
    ),
    Status.MALFORMED: ("无法识别", "这不是本县合格证的二维码，或二维码已损坏。", "bad"),
}

_SIGNATURE_STATUS = {
    Reason.MALFORMED: Status.MALFORMED,
    Reason.UNKNOWN_KIOSK: Status.UNKNOWN_KIOSK,
    Reason.BAD_SIGNATURE: Status.BAD_SIGNATURE,
    Reason.REVOKED: Status.BAD_SIGNATURE,
    Reason.KEY_NOT_VALID_THEN: Status.BAD_SIGNATURE,
    Reason.TRUST_LIST_EXPIRED: Status.UNKNOWN_KIOSK,
}


@dataclass(frozen=True)
class Record:
    """The county's copy of the certificate (``certificates``), when it has arrived."""

    county: str
    number: str
    device: str
    township: str
    service_point: str
    product_code: str
    product_name: str
    producer_key: str
    issued_at: str
    issuer_phone: str = ""


@dataclass(frozen=True)
class Void:
    reason: str
    voided_at: str


@dataclass(frozen=True)
class Hold:
    scope: str  # "kiosk", "county" (county-wide, any identifier) or "trace" (this batch)
    reason: str
    placed_at: str


#: One query for every hold on an uploaded certificate: the issuing kiosk's own holds on
#: its producer + product, the county holds whose trace lists the certificate or one of
#: its 样式二 sources (transitively, ``MAX_CHAIN_DEPTH`` steps: a re-issue of a traced
#: batch is traced, even before the publisher marks it), and the county-wide holds naming
#: the producer by any identifier. Three scopes in one round trip (it was five or more).
_HOLDS_SQL = f"""
WITH RECURSIVE chain(number, depth) AS (
    SELECT CAST(? AS TEXT), 0
    UNION
    SELECT s.source_number, chain.depth + 1 FROM certificate_sources s
    JOIN chain ON s.number = chain.number
    WHERE s.county = ? AND chain.depth < {MAX_CHAIN_DEPTH}
)
SELECT 0, 'kiosk', h.reason, h.placed_at FROM holds h
WHERE h.county = ? AND h.device = ? AND h.producer_key = ? AND h.product_code = ?
AND NOT EXISTS (SELECT 1 FROM hold_lifts l WHERE l.county = h.county
                AND l.device = h.device AND l.hold_id = h.hold_id)
UNION ALL
SELECT DISTINCT 1, 'trace', c.reason, c.placed_at FROM trace_certificates t
JOIN county_holds c ON c.county = t.county AND c.hold_id = t.hold_id
WHERE t.county = ? AND t.number IN (SELECT number FROM chain) AND c.lifted_at IS NULL
UNION ALL
SELECT DISTINCT 2, 'county', c.reason, c.placed_at FROM county_holds c
JOIN county_hold_identifiers i ON i.county = c.county AND i.hold_id = c.hold_id
WHERE c.county = ? AND c.lifted_at IS NULL AND i.identifier IN ({{marks}})
AND c.product_code IN (?, '*')
ORDER BY 1
"""


def producer_identifiers(record: Record) -> list[str]:
    """Every identifier the record names its producer by (as county holds list them)."""
    ids = producer_key_identifiers(record.producer_key)
    if record.issuer_phone:
        ids.add(identifier("phone", record.issuer_phone))
    return sorted(ids)


def lookup_holds(db: Database, record: Record) -> list[Hold]:
    """The holds in force on an uploaded certificate: kiosk, trace and county scopes."""
    ids = producer_identifiers(record)
    sql = _HOLDS_SQL.format(marks=", ".join("?" for _ in ids))
    rows = db.query(
        sql,
        [record.number, record.county,
         record.county, record.device, record.producer_key, record.product_code,
         record.county,
         record.county, *ids, record.product_code],
    )  # fmt: skip
    return [Hold(r[1], r[2], r[3]) for r in rows]


@dataclass(frozen=True)
class ScanResult:
    status: Status
    verdict: Verdict
    record: Record | None = None
    void: Void | None = None
    holds: tuple[Hold, ...] = field(default=())

    @property
    def fields(self) -> CertificateFields | None:
        return self.verdict.fields

    @property
    def headline(self) -> str:
        return STATUS_TEXT[self.status][0]

    @property
    def meaning(self) -> str:
        return STATUS_TEXT[self.status][1]

    @property
    def tone(self) -> str:
        return STATUS_TEXT[self.status][2]

    @property
    def accepted(self) -> bool:
        """Whether a market may accept the produce on this certificate."""
        return self.status in (Status.VALID, Status.NOT_UPLOADED)


def lookup_certificate(db: Database, county: str, number: str) -> tuple[Record | None, Void | None]:
    """The county's record of the certificate and its void, in one round trip."""
    rows = db.query(
        "SELECT c.county, c.number, c.device, c.township, c.service_point, c.product_code, "
        "c.product_name, c.producer_key, c.issued_at, c.issuer_phone, v.reason, v.voided_at "
        "FROM (SELECT 1 AS one) k "
        "LEFT JOIN certificates c ON c.county = ? AND c.number = ? "
        "LEFT JOIN certificate_voids v ON v.county = ? AND v.number = ?",
        [county, number, county, number],
    )
    row = rows[0]
    record = Record(*row[:10]) if row[0] is not None else None
    void = Void(row[10], row[11]) if row[10] is not None else None
    return record, void


def decide(
    verdict: Verdict,
    record: Record | None,
    void: Void | None,
    holds: Sequence[Hold],
    now: datetime,
    valid_days: int,
) -> Status:
    """The status, from facts already gathered (pure: the tests drive it directly)."""
    if not verdict.valid:
        return _SIGNATURE_STATUS[verdict.reason]
    if void is not None:
        return Status.VOIDED
    if any(h.scope == "trace" for h in holds):
        return Status.TRACED
    if holds:
        return Status.SUSPENDED
    assert verdict.fields is not None
    if now - verdict.fields.issued_at > timedelta(days=valid_days):
        return Status.EXPIRED
    if record is None:
        return Status.NOT_UPLOADED
    return Status.VALID


def scan(db: Database, verdict: Verdict, now: datetime, valid_days: int) -> ScanResult:
    """Gather the county's facts about a verified certificate and decide its status.

    Records are looked up only for a good signature: a forged QR learns nothing of
    the county's data, and costs no query. The facts are read fresh on every scan (one
    query, two once the certificate is at the county): a void or a hold shows at once."""
    if not verdict.valid or verdict.fields is None:
        return ScanResult(decide(verdict, None, None, (), now, valid_days), verdict)
    f = verdict.fields
    if f.is_slip:  # genuine, but a result slip: never a certificate's status
        return ScanResult(Status.RAPIDTEST_SLIP, verdict)
    record, void = lookup_certificate(db, f.county, f.number)
    holds = lookup_holds(db, record) if record is not None else []
    status = decide(verdict, record, void, holds, now, valid_days)
    return ScanResult(status, verdict, record, void, tuple(holds))


def mask_phone(phone: str) -> str:
    """138****5678: enough for a buyer to recognise the seller, not to call a stranger."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * len(digits)
