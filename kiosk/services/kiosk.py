"""One kiosk's services over one database, as the composition root (app/compose.py)
built them. Front ends (the touch UI, the CLI, the agent) hold a ``Kiosk`` and call
its services; they never build a part themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from drivers.indicators import Indicators
from drivers.printer.base import LabelPrinter
from drivers.reader.base import TestReader
from drivers.scale import Scale
from drivers.scanner import BarcodeScanner
from kiosk.config import KioskConfig
from kiosk.domain.catalogue import Catalogue, Template
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.numbering import CertificateNumbers
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.services.holds import HoldRegistry
from kiosk.services.issuance import IssuanceService
from kiosk.services.producers import ProducerRegistry
from kiosk.services.rapidtest import RapidTestService
from kiosk.services.staff import StaffAuth
from wire.signing import SigningKey, decode_public_key
from wire.trust import TrustedKey, TrustList, load_trust_list


@dataclass
class Kiosk:
    """``close()`` is idempotent and closes every part the kiosk holds."""

    config: KioskConfig
    store: Store
    outbox: Outbox
    alarms: Alarms
    audit: AuditLog
    holds: HoldRegistry
    catalogue: Catalogue
    templates: dict[str, Template]
    signer: SigningKey
    numbers: CertificateNumbers
    printer: LabelPrinter
    issuance: IssuanceService
    rapid_tests: RapidTestService
    producers: ProducerRegistry
    staff: StaffAuth
    clock: Callable[[], datetime]
    #: Input parts; None where the kiosk has none (headless, or not configured).
    scanner: BarcodeScanner | None = None
    indicators: Indicators | None = None
    scale: Scale | None = None
    reader: TestReader | None = None
    #: Builds a second bundle over the same devices with its own database connection,
    #: for a worker thread (SQLite connections belong to one thread); set by the
    #: composition root. Closing that bundle's store is the worker's job, not close().
    open_worker: Callable[[], Kiosk] | None = field(default=None, repr=False)
    _closed: bool = False
    _activity: tuple[bool, str] | None = None

    def report_activity(self, busy: bool, what: str = "") -> None:
        """The UI's state for the agent (a software update waits for a quiet moment);
        written only when it changes."""
        from kiosk.infra import activity

        if self._activity != (busy, what):
            activity.record(self.config.paths.data_dir, busy, what)
            self._activity = (busy, what)

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
