"""Domain model of a certificate and the things it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Basis(StrEnum):
    """The commitment basis (承诺依据) printed on the certificate."""

    QUALITY_CONTROL = "quality_control"  # 质量安全控制符合要求
    SELF_TEST = "self_test"  # 自行检测合格
    COMMISSIONED_TEST = "commissioned_test"  # 委托检测合格

    @property
    def needs_test(self) -> bool:
        return self is not Basis.QUALITY_CONTROL


class Style(StrEnum):
    """样式一 for producers, 样式二 for buyers who re-issue."""

    PRODUCER = "style1"
    BUYER = "style2"


class CertificateStatus(StrEnum):
    ISSUED = "issued"  # recorded, not (yet) confirmed printed
    PRINTED = "printed"
    VOIDED = "voided"


#: Counting units: quantities must be whole numbers.
COUNT_UNITS = frozenset({"头", "只", "枚", "个", "箱", "筐", "袋"})

#: Largest plausible quantity per unit for one certificate (a batch a service point sees).
UNIT_MAXIMUM: dict[str, Decimal] = {
    "公斤": Decimal(50_000),
    "斤": Decimal(100_000),
    "吨": Decimal(50),
    "头": Decimal(2_000),
    "只": Decimal(50_000),
    "枚": Decimal(500_000),
    "个": Decimal(100_000),
    "箱": Decimal(5_000),
    "筐": Decimal(5_000),
    "袋": Decimal(10_000),
}


@dataclass(frozen=True)
class Issuer:
    """The 承诺主体: the producer (样式一) or the buyer (样式二) who signs the commitment."""

    name: str
    phone: str
    producer_id: str | None = None  # the card / 主体码 id when identified by a scan

    @property
    def producer_key(self) -> str:
        """Who holds and history attach to: the card id, else the phone number."""
        return self.producer_id or f"tel:{self.phone}"


@dataclass(frozen=True)
class CertificateRequest:
    """What the farmer (or a headless caller) asks the kiosk to certify."""

    issuer: Issuer
    product_code: str
    quantity: Decimal
    unit: str
    origin: str
    basis: Basis = Basis.QUALITY_CONTROL
    style: Style = Style.PRODUCER
    #: Classes of pesticide / veterinary drug used on this crop or herd (codes from inputs.toml).
    inputs_used: tuple[str, ...] = ()
    #: Rapid-test id (自行检测) or lab report number (委托检测) the basis rests on.
    test_ref: str | None = None
    #: For 样式二: the supplier's certificate number.
    source_certificate: str | None = None
    copies: int = 1
    #: 委托检测合格: the testing laboratory (test_ref is its report number).
    lab_name: str | None = None
    #: 样式二: the source certificates, each a scanned QR text (or the number of this
    #: kiosk's own certificate); verified by kiosk/services/sources.py.
    sources: tuple[str, ...] = ()
    #: 畜禽: the 动物检疫合格证明 number; 肉牛: every animal's ear tag.
    quarantine_cert: str | None = None
    ear_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Certificate:
    """An issued certificate as recorded; the number is never reused."""

    number: str
    seq: int
    device_id: str
    county: str
    issued_at: datetime
    template_id: str
    style: Style
    product_code: str
    product_name: str
    quantity: Decimal
    unit: str
    origin: str
    issuer: Issuer
    basis: Basis
    inputs_used: tuple[str, ...] = ()
    test_ref: str | None = None
    source_certificate: str | None = None
    #: 自行检测合格: the rapid-test sample (and so the batch) the certificate rests on.
    sample_id: str | None = None
    #: 委托检测合格: the laboratory whose report ``test_ref`` is.
    lab_name: str | None = None
    #: 样式二: the numbers of every verified source certificate (the first is
    #: ``source_certificate``, the one the QR carries).
    sources: tuple[str, ...] = ()
    #: 畜禽: the 动物检疫合格证明 number; 肉牛: every animal's ear tag.
    quarantine_cert: str | None = None
    ear_tags: tuple[str, ...] = ()
    status: CertificateStatus = CertificateStatus.ISSUED
    print_count: int = 0
    qr_text: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def quantity_text(self) -> str:
        return f"{format_quantity(self.quantity)}{self.unit}"


def format_quantity(value: Decimal) -> str:
    """Quantities print without trailing zeros: 12.50 -> 12.5, 3.00 -> 3."""
    text = f"{value.normalize():f}"
    return text
