"""What the farmer has chosen so far: one object, cleared on 首页 or the idle timeout."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kiosk.domain.catalogue import Product
from kiosk.domain.model import Basis, Certificate, CertificateRequest, Style
from kiosk.services.producers import Producer


@dataclass
class FarmerSession:
    producer: Producer | None = None
    product: Product | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    inputs: tuple[str, ...] | None = None
    basis: Basis = Basis.QUALITY_CONTROL
    test_ref: str | None = None
    copies: int = 1
    #: 样式二 (a buyer re-issuing): the scanned source QR texts and their numbers.
    style: Style = Style.PRODUCER
    sources: list[str] = field(default_factory=list)
    source_numbers: list[str] = field(default_factory=list)
    #: 畜禽: the 动物检疫合格证明 number; 肉牛: the ear tags scanned.
    quarantine_cert: str | None = None
    ear_tags: list[str] = field(default_factory=list)
    #: Filled by registration screens before the producer exists.
    draft: dict[str, str] = field(default_factory=dict)

    def who(self) -> Producer:
        """The identified producer (screens after identification only)."""
        if self.producer is None:
            raise RuntimeError("no producer identified in this session")
        return self.producer

    def what(self) -> Product:
        """The chosen product (screens after the product was chosen only)."""
        if self.product is None:
            raise RuntimeError("no product chosen in this session")
        return self.product

    def origin(self, township: str) -> str:
        """产地: the township and the producer's village, as the county registered them."""
        village = self.producer.village if self.producer else ""
        return f"{township}{village}" if village else township

    def request(self, township: str) -> CertificateRequest:
        assert self.producer and self.product and self.unit and self.quantity is not None
        return CertificateRequest(
            issuer=self.producer.issuer,
            product_code=self.product.code,
            quantity=self.quantity,
            unit=self.unit,
            origin=self.origin(township),
            basis=self.basis,
            inputs_used=self.inputs or (),
            test_ref=self.test_ref if self.basis.needs_test else None,
            copies=self.copies,
            style=self.style,
            sources=tuple(self.sources) if self.style is Style.BUYER else (),
            quarantine_cert=self.quarantine_cert,
            ear_tags=tuple(self.ear_tags),
        )

    def repeat(self, last: Certificate, product: Product) -> None:
        """Everything but the producer from the last certificate (repeat in ≤ 3 taps)."""
        self.product = product
        self.unit = last.unit
        self.quantity = last.quantity
        self.inputs = last.inputs_used
        self.basis = last.basis
        self.test_ref = last.test_ref
        self.copies = 1
        self.style = Style.PRODUCER
        self.quarantine_cert, self.ear_tags = None, []  # a new lot: asked again
