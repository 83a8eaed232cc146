"""The composition root: the one place that turns configuration into running parts.

Nothing else in the project builds drivers from configuration or holds
process-wide state; services receive what they need through their constructors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from drivers.fonts import find_cjk_font
from drivers.indicators import Indicators
from drivers.printer import TransportSettings, open_label_printer
from drivers.printer.base import LabelPrinter
from drivers.reader import open_test_reader
from drivers.reader.base import TestReader
from drivers.scale import Scale
from drivers.scanner import BarcodeScanner
from firmware_bridge.errors import LinkError
from kiosk.audit import AuditLog
from kiosk.catalogue import Catalogue, Template, load_templates
from kiosk.config import KioskConfig
from kiosk.holds import HoldRegistry
from kiosk.issuance import IssuanceService, IssuanceSettings
from kiosk.numbering import CertificateNumbers
from kiosk.outbox import Outbox
from kiosk.qrpayload import CST
from kiosk.rapidtest import RapidTestService
from kiosk.rapidtest_methods import MethodBook
from kiosk.signing import SigningKey, decode_public_key
from kiosk.store import Store, StoreError
from kiosk.trust import TrustedKey, TrustList, load_trust_list

log = logging.getLogger(__name__)

SIGNING_KEY_FILE = "certificate-signing.pem"
COUNTER_FLOOR_FILE = "certificate-counter.floor"


def china_time() -> datetime:
    return datetime.now(CST)


def open_reader(config: KioskConfig) -> TestReader | None:
    """The rapid-test reader, or None where the kiosk has none (or the link is down)."""
    r = config.reader
    if r.kind == "none":
        return None
    return open_test_reader(r.kind, port=r.port, baudrate=r.baudrate, time_scale=r.time_scale)


def open_inputs(
    config: KioskConfig,
) -> tuple[BarcodeScanner | None, Indicators | None, Scale | None]:
    """Scanner, cabinet GPIO and scale, for the process that serves the screen."""
    from drivers.indicators.factory import open_indicators
    from drivers.indicators.pins import GpioPins, LightKind
    from drivers.scale.factory import open_scale
    from drivers.scanner.factory import open_barcode_scanner

    sc, gpio, sca = config.scanner, config.indicators, config.scale
    scanner = (
        None
        if sc.kind == "none"
        else open_barcode_scanner(sc.kind, device=sc.device, baudrate=sc.baudrate)
    )
    indicators = None
    if gpio.kind != "none":
        values = gpio.model_dump(exclude={"kind"})
        pins = GpioPins(**{**values, "light_kind": LightKind(gpio.light_kind)})
        indicators = open_indicators(pins, simulated=gpio.kind == "simulated")
    scale = open_scale(sca.kind, port=sca.port, baudrate=sca.baudrate)
    return scanner, indicators, scale


def open_printer(config: KioskConfig) -> LabelPrinter:
    settings = TransportSettings(**config.printer.transport.model_dump())
    return open_label_printer(
        config.printer.profile, settings, font_path=find_cjk_font(config.fonts.cjk)
    )


@dataclass
class Kiosk:
    """A kiosk's services over one database; ``close()`` is idempotent."""

    config: KioskConfig
    store: Store
    outbox: Outbox
    audit: AuditLog
    holds: HoldRegistry
    catalogue: Catalogue
    templates: dict[str, Template]
    signer: SigningKey
    numbers: CertificateNumbers
    printer: LabelPrinter
    issuance: IssuanceService
    rapid_tests: RapidTestService
    clock: Callable[[], datetime]
    #: Input parts; None where the kiosk has none (headless, or not configured).
    scanner: BarcodeScanner | None = None
    indicators: Indicators | None = None
    scale: Scale | None = None
    reader: TestReader | None = None
    _closed: bool = False

    @classmethod
    def open(
        cls,
        config: KioskConfig,
        *,
        printer: LabelPrinter | None = None,
        reader: TestReader | None = None,
        clock: Callable[[], datetime] = china_time,
    ) -> Kiosk:
        """Open the store and the parts; the reader is given, or opened when asked for
        (``open_reader``): a simulated one is a child process, not something every
        ``kiosk certificates`` call should start."""
        data = config.paths.data_dir
        data.mkdir(parents=True, exist_ok=True)
        store = Store(config.paths.database)
        try:
            problems = store.integrity_check(quick=True)
            if problems:
                raise StoreError(f"database integrity check failed: {problems[:3]}")
            device = config.device
            outbox = Outbox(store, device.county, device.device_id, clock)
            audit = AuditLog(store, clock)
            holds = HoldRegistry(store, outbox, audit, clock)
            catalogue = Catalogue.load()
            templates = load_templates()
            signer = SigningKey.load_or_create(config.paths.keys_dir / SIGNING_KEY_FILE)
            numbers = CertificateNumbers(
                store, data / COUNTER_FLOOR_FILE, device.county, device.device_id
            )
            printer = printer or open_printer(config)
        except BaseException:
            store.close()
            raise
        methods = MethodBook.load(input_classes=catalogue.inputs, categories=catalogue.categories)
        rapid_tests = RapidTestService(
            store=store,
            outbox=outbox,
            holds=holds,
            catalogue=catalogue,
            methods=methods,
            reader=reader,
            clock=clock,
        )
        issuance = IssuanceService(
            store=store,
            outbox=outbox,
            audit=audit,
            holds=holds,
            catalogue=catalogue,
            templates=templates,
            signer=signer,
            numbers=numbers,
            printer=printer,
            settings=IssuanceSettings(
                county=device.county,
                device_id=device.device_id,
                township=device.township,
                service_point=device.service_point,
                template_edition=config.certificate.template_edition,
                verify_url=config.certificate.verify_url,
                paper=config.printer.paper,
                copies_max=config.certificate.copies_max,
                language=config.ui.language,
                min_free_bytes=config.paths.min_free_mb * 1024 * 1024,
            ),
            clock=clock,
            evidence=rapid_tests.evidence,
        )
        kiosk = cls(
            config, store, outbox, audit, holds, catalogue, templates, signer, numbers, printer,
            issuance, rapid_tests, clock, reader=reader,
        )  # fmt: skip
        kiosk._report_restore()
        return kiosk

    def attach_inputs(self) -> None:
        """Open the scanner, GPIO and scale configured (``kiosk run`` does, the CLI does not)."""
        if self.scanner is None and self.indicators is None and self.scale is None:
            self.scanner, self.indicators, self.scale = open_inputs(self.config)

    def attach_reader(self, *, required: bool = True) -> TestReader | None:
        """Open the configured reader for commands that need it (and the UI's staff mode).

        ``required=False`` (the UI): a reader that is unplugged or faulty is logged and
        raised as an alarm, and farmers keep their certificates; staff mode shows it.
        """
        if self.reader is None:
            try:
                self.reader = open_reader(self.config)
            except LinkError as error:
                if required:
                    raise
                log.error("rapid-test reader unavailable: %s", error)
                with self.store.transaction():
                    self.outbox.enqueue(
                        "alarm",
                        "alarm.raised",
                        {
                            "code": "reader_fault",
                            "severity": "warning",
                            "message": f"读数仪无法连接：{error}",
                            "detail": {"port": self.config.reader.port},
                        },
                    )
            self.rapid_tests.reader = self.reader
        return self.reader

    def _report_restore(self) -> None:
        """A database older than the counter floor was restored: say so, once, to the county."""
        gap = self.numbers.restored_gap()
        if gap > 1:
            log.error("certificate counter is %d behind its floor: an older backup?", gap)
            with self.store.transaction():
                self.outbox.enqueue(
                    "alarm",
                    "alarm.raised",
                    {
                        "code": "counter_restored",
                        "severity": "critical",
                        "message": "数据库比证号记录旧：可能恢复了旧备份，证号将从记录值之后继续",
                        "detail": {"floor": self.numbers.read_floor(), "gap": gap},
                    },
                )
                # Lift the counter now so the alarm is raised once, not at every start.
                self.store.advance_counter(
                    "certificate_seq", at_least=self.numbers.read_floor() - 1
                )

    def trust_list(self, path: Path | None = None, anchors: list[bytes] | None = None) -> TrustList:
        """The configured trust list, or one that trusts only this kiosk's own key."""
        cert = self.config.certificate
        path = path or cert.trust_list
        if path is not None:
            keys = anchors or [decode_public_key(a) for a in cert.trust_anchors]
            return load_trust_list(path, keys)
        own = TrustedKey(
            county=self.config.device.county,
            device_id=self.config.device.device_id,
            public_key=self.signer.public_bytes,
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        )
        return TrustList(self.config.device.county, 0, self.clock(), None, (own,))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for part in (self.scanner, self.indicators, self.scale, self.reader, self.printer):
                if part is not None:
                    part.close()
        finally:
            self.store.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
