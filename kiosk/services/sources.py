"""样式二: the source certificates a buyer's certificate rests on, each verified.

A buyer (收购/贩运) re-issues with one or more source certificates, scanned from their QR
(or, for this kiosk's own certificates, typed by number). Each must carry a valid
signature against the trust list, name the same product, and not be voided as far as
this kiosk knows; the buyer's certificates citing a source may not together exceed
what the sources certified (docs/certificates.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from kiosk.domain.catalogue import Catalogue
from kiosk.domain.model import CertificateRequest, Issuer, format_quantity
from kiosk.domain.validation import InputError
from kiosk.infra.store import Store
from kiosk.services.county_holds import county_hold_for
from kiosk.services.holds import HoldRegistry
from kiosk.services.producers import producer_keys
from wire.trust import TrustList
from wire.verify import Reason, verify_qr_text

#: At most this many sources on one 样式二 certificate (混装 from several suppliers).
MAX_SOURCES = 10
#: 样式二 chains are followed this many re-issues up when looking for the buyer itself.
CHAIN_DEPTH = 10
#: How long a source certificate stands by default (``certificate.valid_days``).
DEFAULT_VALID_DAYS = 7
#: Weight units convert; counting units must match.
_KG = {"公斤": Decimal(1), "斤": Decimal("0.5"), "吨": Decimal(1000)}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(\D+)$")
_NUMBER = re.compile(r"^\d{6}-[A-Z][A-Z0-9]{1,7}-\d{7}$")

_REASONS = {
    Reason.MALFORMED: "不是合格证二维码",
    Reason.UNKNOWN_KIOSK: "开证终端不在县里的信任名单上，无法验证（可能是伪造的）",
    Reason.BAD_SIGNATURE: "签名不对：这张合格证是伪造或被改动过的",
    Reason.REVOKED: "开证终端的密钥已被吊销",
    Reason.KEY_NOT_VALID_THEN: "开证时间不在终端密钥的有效期内",
    Reason.TRUST_LIST_EXPIRED: "本机的信任名单已过期，暂时无法验证：请联系技术员",
}


@dataclass(frozen=True)
class Source:
    """A verified source certificate."""

    number: str
    product_name: str
    quantity: Decimal
    unit: str
    qr_text: str = ""
    #: Who issued the source (its 承诺主体): a hold on them is a hold on their batch.
    issuer_name: str = ""
    phone: str = ""
    producer_key: str = ""
    #: The first source the QR names when the source is itself a 样式二.
    cited: str = ""
    issued_at: datetime | None = None


class SourceRefused(InputError):
    """One source is refused; the message names it and why."""


class SourceVerifier:
    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        clock: Callable[[], datetime],
        trust: Callable[[], TrustList],
        holds: HoldRegistry | None = None,
        valid_days: int = DEFAULT_VALID_DAYS,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.clock = clock
        self.trust = trust
        #: This kiosk's own holds; the county's applied list is read from the store.
        self.holds = holds
        #: A source older than this is refused (the certificate no longer stands).
        self.valid_days = valid_days

    def check(self, code: str, product_code: str) -> Source:
        """One scanned QR text (or a typed number of this kiosk's own certificate) for a
        buyer's ``product_code``; ``SourceRefused`` with the reason in plain words."""
        code = (code or "").strip()
        if not code:
            raise SourceRefused("sources", "empty", "请扫描来源合格证的二维码")
        if _NUMBER.match(code):
            source = self._own(code)
        else:
            verdict = verify_qr_text(code, self.trust(), self.clock())
            if not verdict.valid or verdict.fields is None:
                raise SourceRefused(
                    "sources", verdict.reason.value, f"来源合格证{_REASONS[verdict.reason]}"
                )
            f = verdict.fields
            if f.is_slip:
                raise SourceRefused(
                    "sources", "not_certificate", f"{f.number}是快速检测结果单，不是合格证"
                )
            quantity, unit = _split_quantity(f.quantity)
            source = Source(
                f.number, f.product, quantity, unit, code, f.issuer, f.phone,
                cited=f.source_certificate, issued_at=f.issued_at,
            )  # fmt: skip
        product = self.catalogue.products[product_code]
        if source.product_name != product.name:
            raise SourceRefused(
                "sources",
                "other_product",
                f"来源合格证{source.number}是{source.product_name}的，不是{product.name}",
            )
        status = self.store.conn.execute(
            "SELECT status FROM certificates WHERE number = ?", [source.number]
        ).fetchone()
        if status is not None and status[0] == "voided":
            raise SourceRefused("sources", "voided", f"来源合格证{source.number}已作废")
        if source.issued_at is not None:
            refusal = expiry_refusal(source.issued_at, self.clock(), self.valid_days)
            if refusal:
                raise SourceRefused("sources", "expired", f"来源合格证{source.number}{refusal}")
        self._refuse_held(source, product_code)
        return source

    def _refuse_held(self, source: Source, product_code: str) -> None:
        """A source whose issuer is held for this product (by this kiosk, or the county's
        applied list, by every identifier the QR or this kiosk's record gives): a held
        producer's batch may not be re-labelled through a buyer's 样式二."""
        issuers = {Issuer(source.issuer_name, source.phone)} if source.phone else set()
        row = self.store.conn.execute(
            "SELECT issuer_name, issuer_phone, producer_key FROM certificates WHERE number = ?",
            [source.number],
        ).fetchone()
        if row is not None:
            key = row[2] or ""
            issuers.add(Issuer(row[0], row[1], None if key.startswith("tel:") else key or None))
        for issuer in sorted(issuers, key=lambda i: (i.producer_key, i.phone)):
            reason = None
            hold = self.holds.is_held(issuer.producer_key, product_code) if self.holds else None
            if hold is not None:
                reason = hold.reason
            else:
                county = county_hold_for(self.store, issuer, product_code)
                reason = county.reason if county is not None else None
            if reason is not None:
                raise SourceRefused(
                    "sources",
                    "held",
                    f"来源合格证{source.number}的开具者{issuer.name}已被暂停开证（{reason}），"
                    "该批次不能转开合格证：请联系乡镇监管站",
                )

    def check_request(self, request: CertificateRequest) -> list[Source]:
        """Every source of a 样式二 request, and their total against the quantity."""
        if not request.sources:
            raise InputError("sources", "required", "样式二须有来源合格证：请扫描供货方合格证")
        if len(request.sources) > MAX_SOURCES:
            raise InputError("sources", "too_many", f"来源合格证最多{MAX_SOURCES}张")
        sources = [self.check(code, request.product_code) for code in request.sources]
        numbers = [s.number for s in sources]
        if len(set(numbers)) != len(numbers):
            raise InputError("sources", "duplicate", "同一张来源合格证扫了两次")
        mine = producer_keys(self.store, request.issuer.producer_key)
        mine.add(f"tel:{request.issuer.phone}")
        for source in sources:
            if self._chain_keys(source) & mine:
                raise SourceRefused(
                    "sources",
                    "own_reissue",
                    f"来源合格证{source.number}（或它的来源）是您自己开具的：同一批货已有"
                    "合格证，不能再转开（转开只用于从别人处收购的产品）",
                )
        total = sum((_in(s.quantity, s.unit, request.unit) for s in sources), Decimal(0))
        used = self._already_used(numbers, request.unit)
        if request.quantity + used > total:
            left = max(total - used, Decimal(0))
            raise InputError(
                "quantity",
                "over_sources",
                f"来源合格证共{format_quantity(total)}{request.unit}，已开具"
                f"{format_quantity(used)}{request.unit}，本次最多{format_quantity(left)}"
                f"{request.unit}",
            )
        return sources

    def _chain_keys(self, source: Source) -> set[str]:
        """The producer keys (``tel:`` and ids) of everyone who certified this source or,
        as far as the QR and this kiosk's records tell, anything up its 样式二 chain.
        A buyer citing a certificate it issued itself (directly, or through another
        buyer) would certify the same goods twice: 100 kg re-issued as 100 kg again and
        again (docs/certificates.md §4)."""
        keys = {f"tel:{source.phone}"} if source.phone else set()
        seen: set[str] = set()
        frontier = {source.number} | ({source.cited} if source.cited else set())
        for _ in range(CHAIN_DEPTH):
            frontier -= seen
            if not frontier:
                break
            seen |= frontier
            marks = ", ".join("?" for _ in frontier)
            params = sorted(frontier)
            for key, phone in self.store.conn.execute(
                f"SELECT producer_key, issuer_phone FROM certificates WHERE number IN ({marks})",
                params,
            ):
                keys |= producer_keys(self.store, key) | {f"tel:{phone}"}
            frontier = {
                r[0]
                for r in self.store.conn.execute(
                    "SELECT source_number FROM certificate_sources "
                    f"WHERE certificate_number IN ({marks})",
                    params,
                )
            }
        return keys

    def _own(self, number: str) -> Source:
        row = self.store.conn.execute(
            "SELECT product_name, quantity, unit, issued_at FROM certificates WHERE number = ?",
            [number],
        ).fetchone()
        if row is None:
            raise SourceRefused(
                "sources",
                "not_verifiable",
                f"合格证{number}不是本机开具的，无法核验：请扫描它的二维码",
            )
        issued = datetime.fromisoformat(row[3])
        return Source(number, row[0], Decimal(row[1]), row[2], issued_at=issued)

    def _already_used(self, numbers: Sequence[str], unit: str) -> Decimal:
        marks = ", ".join("?" for _ in numbers)
        rows = self.store.conn.execute(
            "SELECT DISTINCT c.number, c.quantity, c.unit FROM certificate_sources s "
            "JOIN certificates c ON c.number = s.certificate_number "
            f"WHERE s.source_number IN ({marks}) AND c.status != 'voided'",
            list(numbers),
        ).fetchall()
        return sum((_in(Decimal(q), u, unit) for _n, q, u in rows), Decimal(0))


def expiry_refusal(issued_at: datetime, now: datetime, valid_days: int) -> str | None:
    """Why a certificate issued at ``issued_at`` no longer stands at ``now`` (zh-CN, to
    follow its name or number), or None while it is within ``valid_days``."""
    if now - issued_at <= timedelta(days=valid_days):
        return None
    when = issued_at.strftime("%Y-%m-%d")
    return f"开具于{when}，已超过{valid_days}天有效期，不能再作为依据"


def _split_quantity(text: str) -> tuple[Decimal, str]:
    match = _QUANTITY.match(text.strip())
    if not match:
        raise SourceRefused("sources", "quantity", f"来源合格证的数量“{text}”无法识别")
    try:
        return Decimal(match.group(1)), match.group(2)
    except InvalidOperation:
        raise SourceRefused("sources", "quantity", f"来源合格证的数量“{text}”无法识别") from None


def _in(quantity: Decimal, unit: str, target: str) -> Decimal:
    """``quantity`` of ``unit`` expressed in ``target``; counting units must match."""
    if unit == target:
        return quantity
    if unit in _KG and target in _KG:
        return quantity * _KG[unit] / _KG[target]
    raise InputError("unit", "unit", f"来源合格证以{unit}计，本次请按{unit}填写")
