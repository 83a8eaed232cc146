"""The composition root: the one place that turns configuration into running parts.

Nothing else in the project builds drivers from configuration or holds
process-wide state; services receive what they need through their constructors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from drivers.fonts import find_cjk_font
from drivers.indicators import Indicators
from drivers.printer import TransportSettings, open_label_printer
from drivers.printer.base import (
    LabelPrinter,
    PrinterError,
    PrinterFault,
    PrinterStatus,
    ProgressCallback,
)
from drivers.printer.document import LabelDocument
from drivers.printer.profiles import get_profile
from drivers.printer.transports import TransportError
from drivers.reader import open_test_reader
from drivers.reader.base import TestReader
from drivers.scale import Scale
from drivers.scanner import BarcodeScanner
from kiosk.config import SIGNING_KEY_FILE, KioskConfig, check_startable
from kiosk.domain.catalogue import Catalogue, load_templates
from kiosk.domain.rapidtest_methods import MethodBook
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.numbering import EVENT_COUNTER, CertificateNumbers, floors_beside
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store, StoreError
from kiosk.infra.timetrust import TimeSettings, TimeTrust, open_time_trust
from kiosk.services.holds import HoldRegistry
from kiosk.services.issuance import IssuanceService, IssuanceSettings
from kiosk.services.kiosk import Kiosk
from kiosk.services.producers import ProducerRegistry
from kiosk.services.rapidtest import RapidTestService
from kiosk.services.rapidtest_records import RapidTestSettings
from kiosk.services.sources import SourceVerifier
from kiosk.services.staff import StaffAuth
from provisioning.hardware import HardwareDesk, HardwareDirect
from readerlink.errors import LinkError
from wire.clock import china_time
from wire.files import PRIVATE, atomic_write
from wire.signing import SigningKey

log = logging.getLogger(__name__)

#: The simulated reader's calibration, below the data directory.
READER_SIM_FLASH_FILE = "reader-sim-flash.json"
#: Demo accounts (name: role, PIN), set only under the embedded simulation config.
DEMO_ACCOUNTS = {"演示员": ("staff", "135790"), "演示技术员": ("technician", "975310")}
#: How often a printer that could not be opened is tried again.
PRINTER_RETRY_S = 5.0


def open_reader(config: KioskConfig) -> TestReader | None:
    """The rapid-test reader, or None where the kiosk has none (or the link is down)."""
    r = config.reader
    if r.kind == "none":
        return None
    # A simulated reader keeps its calibration in a file, as a real one keeps it in
    # flash: `kiosk reader calibrate` then `kiosk reader info` must agree.
    flash = ("--flash", str(config.paths.data_dir / READER_SIM_FLASH_FILE))
    return open_test_reader(
        r.kind,
        port=r.port,
        baudrate=r.baudrate,
        time_scale=r.time_scale,
        simulator_args=flash if r.kind == "simulated" else (),
    )


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


def open_printer(config: KioskConfig, *, deferred: bool = False) -> LabelPrinter:
    """The configured printer; one that cannot be reached now is retried, not fatal.

    A kiosk whose printer is unplugged at start must still start: the touch UI shows
    its out-of-service page and recovers when the printer answers; the CLI records
    a certificate and says it was not printed (exit 3).
    """
    if config.printer.transport.kind == "none":
        return NoPrinter()
    settings = TransportSettings(**config.printer.transport.model_dump())

    def connect() -> LabelPrinter:
        return open_label_printer(
            config.printer.profile, settings, font_path=find_cjk_font(config.fonts.cjk)
        )

    if deferred:
        return ReconnectingPrinter.deferred(connect)
    try:
        return connect()
    except TransportError as error:
        log.error("printer not reachable at start (%s): will retry", error)
        return ReconnectingPrinter(connect, error)


class NoPrinter(LabelPrinter):
    """The kiosk has no printer configured (``[printer.transport]`` left out or
    ``kind = "none"``): always offline, so the touch UI shows its out-of-service page
    and issuing is refused before a number is spent. Never a simulated printer."""

    def status(self) -> PrinterStatus:
        return PrinterStatus(online=False)

    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        raise PrinterError(PrinterFault.OFFLINE, "no printer configured ([printer.transport])", 0)

    def close(self) -> None:
        pass


class ReconnectingPrinter(LabelPrinter):
    """A printer that could not be opened: offline until a retry opens it.

    Each ``status()`` or ``print_label()`` tries to open the link again, at most every
    ``retry_s``; once open, every call goes to the real printer.
    """

    def __init__(
        self,
        connect: Callable[[], LabelPrinter],
        error: Exception,
        *,
        retry_s: float = PRINTER_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.error: Exception = error
        self.retry_s = retry_s
        self._clock = clock
        self._next_try = clock() + retry_s
        self.inner: LabelPrinter | None = None
        self._closed = False

    @classmethod
    def deferred(cls, connect: Callable[[], LabelPrinter]) -> ReconnectingPrinter:
        """A printer opened at its first use: ``kiosk keys``, ``verify``, ``certificates``
        never touch it (with a USB printer they failed for want of libusb)."""
        printer = cls(connect, TransportError("printer not opened yet"), retry_s=0.0)
        printer._next_try = printer._clock()
        return printer

    def _printer(self) -> LabelPrinter | None:
        if self.inner is None and not self._closed and self._clock() >= self._next_try:
            self._next_try = self._clock() + self.retry_s
            try:
                self.inner = self._connect()
            except TransportError as error:
                self.error = error
            else:
                log.warning("printer reachable again")
        return self.inner

    def status(self) -> PrinterStatus:
        inner = self._printer()
        return inner.status() if inner is not None else PrinterStatus(online=False)

    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        inner = self._printer()
        if inner is None:
            raise PrinterError(PrinterFault.OFFLINE, f"printer not reachable: {self.error}", 0)
        inner.print_label(document, copies, progress)

    def close(self) -> None:
        self._closed = True
        if self.inner is not None:
            self.inner.close()


#: Records the boot on which the database last passed its integrity check.
INTEGRITY_MARKER_FILE = "integrity-checked.boot"
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def check_integrity_once_per_boot(store: Store, marker: Path) -> None:
    """SQLite's quick_check, once per boot rather than at every open.

    Corruption comes from power loss and failing SD cards, both of which mean a new boot;
    a restart of the UI or a CLI call within the same boot cannot introduce it. On a
    kiosk holding two years of certificates the check reads the whole 0.5 GB file (about
    13 s on a Pi's SD card), which every `kiosk` command and every UI start paid.
    """
    try:
        boot = BOOT_ID_FILE.read_text("ascii").strip()
    except OSError:
        boot = ""  # not Linux: check at every open
    try:
        if boot and marker.read_text("ascii").strip() == boot:
            return
    except OSError:
        pass
    problems = store.integrity_check(quick=True)
    if problems:
        raise StoreError(f"database integrity check failed: {problems[:3]}")
    if boot:
        atomic_write(marker, boot.encode("ascii"), mode=PRIVATE)


def time_trust(config: KioskConfig, store: Store | None = None) -> TimeTrust:
    """Whether the clock may date a certificate (``[time]``; kiosk/infra/timetrust.py)."""
    t = config.time
    return open_time_trust(
        config.paths.data_dir,
        t.sync,
        rtc=t.rtc,
        rtc_device=t.rtc_device,
        settings=TimeSettings(t.beacon_tolerance_s, t.max_unsynced_min),
        store=store,
    )


def open_kiosk(
    config: KioskConfig,
    *,
    printer: LabelPrinter | None = None,
    reader: TestReader | None = None,
    clock: Callable[[], datetime] = china_time,
    worker: bool = False,
    defer_printer: bool = False,
) -> Kiosk:
    """Open the store and build the services; the printer is opened here, the reader
    only when given (``attach_reader``): a simulated one is a child process, not
    something every ``kiosk certificates`` call should start.

    ``worker``: a second bundle for a device worker thread over devices the first one
    opened (its own connection; no integrity check or restore report again).
    ``defer_printer``: open the printer at its first use (the CLI: most commands never
    print, and a printer that cannot be opened must not stop them)."""
    if not worker:
        check_startable(config)  # ConfigError naming the key, before anything is opened
    data = config.paths.data_dir
    data.mkdir(parents=True, exist_ok=True)
    store = Store(config.paths.database)
    try:
        if not worker:
            check_integrity_once_per_boot(store, data / INTEGRITY_MARKER_FILE)
        device = config.device
        floors = floors_beside(store)
        if floors.legacy_present():  # an upgraded kiosk: fold its two former floor files in
            with store.transaction():  # under the write lock: no floor write interleaves
                floors.migrate()
        outbox = Outbox(store, device.county, device.device_id, clock, floors)
        alarms = Alarms(store, outbox, clock)
        audit = AuditLog(store, clock)
        holds = HoldRegistry(store, outbox, audit, clock)
        catalogue = Catalogue.load(extra=config.catalogue.model_dump())
        templates = load_templates()
        signer = SigningKey.load_or_create(config.paths.keys_dir / SIGNING_KEY_FILE)
        numbers = CertificateNumbers(store, floors, device.county, device.device_id)
        printer = printer or open_printer(config, deferred=defer_printer)
    except BaseException:
        store.close()
        raise
    methods = MethodBook.load(input_classes=catalogue.inputs, categories=catalogue.categories)
    rapid_tests = RapidTestService(
        store=store,
        outbox=outbox,
        alarms=alarms,
        holds=holds,
        catalogue=catalogue,
        methods=methods,
        reader=reader,
        clock=clock,
        settings=RapidTestSettings(evidence_window_h=config.certificate.evidence_window_h),
    )
    producers = ProducerRegistry(store, clock, device.device_id)
    issuance = IssuanceService(
        store=store,
        outbox=outbox,
        alarms=alarms,
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
            demo=config.device.simulation,
        ),
        clock=clock,
        evidence=rapid_tests.evidence,
        resolve=producers.resolve,
        sample_of=rapid_tests.sample_of,
        sample_inputs=rapid_tests.declared_inputs,
        time_trust=time_trust(config, store),
    )
    kiosk = Kiosk(
        config=config,
        store=store,
        outbox=outbox,
        alarms=alarms,
        audit=audit,
        holds=holds,
        catalogue=catalogue,
        templates=templates,
        signer=signer,
        numbers=numbers,
        printer=printer,
        issuance=issuance,
        rapid_tests=rapid_tests,
        producers=producers,
        staff=StaffAuth(store, clock, audit=audit, alarms=alarms),
        clock=clock,
        reader=reader,
    )
    issuance.sources = SourceVerifier(
        store, catalogue, clock, kiosk.trust_list, holds, config.certificate.valid_days
    )
    kiosk.open_worker = lambda: open_kiosk(
        config, printer=kiosk.printer, reader=kiosk.reader, clock=clock, worker=True
    )
    if not worker:
        _report_restore(kiosk)
        _report_backup_restored(kiosk)
    return kiosk


def attach_inputs(kiosk: Kiosk) -> None:
    """Open the scanner, GPIO and scale configured (``kiosk run`` does, the CLI does not)."""
    if kiosk.scanner is None and kiosk.indicators is None and kiosk.scale is None:
        kiosk.scanner, kiosk.indicators, kiosk.scale = open_inputs(kiosk.config)


def attach_reader(kiosk: Kiosk, *, required: bool = True) -> TestReader | None:
    """Open the configured reader for commands that need it (and the UI's staff mode).

    ``required=False`` (the UI): a reader that is unplugged or faulty is logged and
    raised as an alarm, and farmers keep their certificates; staff mode shows it.
    """
    if kiosk.reader is None:
        try:
            kiosk.reader = open_reader(kiosk.config)
        except LinkError as error:
            if required:
                raise
            log.error("rapid-test reader unavailable: %s", error)
            kiosk.alarms.raise_(
                "reader_fault",
                "warning",
                f"读数仪无法连接：{error}",
                {"port": kiosk.config.reader.port},
            )
        else:
            kiosk.alarms.clear("reader_fault")
        kiosk.rapid_tests.reader = kiosk.reader
    return kiosk.reader


def hardware_desk(kiosk: Kiosk) -> HardwareDesk:
    """The UI process's desk for hardware requests the agent relays from the county."""
    profile = get_profile(kiosk.config.printer.profile)
    return HardwareDesk(
        kiosk.store,
        HardwareDirect(
            kiosk.printer,
            lambda: kiosk.reader,
            label=kiosk.config.device.device_id,
            label_size=(profile.width, profile.height or profile.width * 2 // 3),
        ),
    )


def seed_demo_accounts(kiosk: Kiosk) -> None:
    """The embedded simulation gets demo accounts so staff and technician modes can be
    tried; a kiosk whose configuration is not a simulation never has one, and demo
    accounts left from an earlier simulation run over the same data are disabled."""
    if not kiosk.config.device.simulation:
        for member in kiosk.staff.members():
            if member.source == "demo":
                log.warning("not a simulation: demo account %s disabled", member.name)
                kiosk.staff.set_active(member.name, False, by="compose")
        return
    for name, (role, pin) in DEMO_ACCOUNTS.items():
        if kiosk.staff.member(name) is None:
            log.warning("simulation: demo %s account %s (PIN %s)", role, name, pin)
            kiosk.staff.add(name, role, pin, by="simulation", source="demo")


def _report_backup_restored(kiosk: Kiosk) -> None:
    """``kiosk backup restore`` left a report of what it changed: tell the county (alarm
    ``backup_restored``) and the audit chain, once, then drop the report."""
    from kiosk.infra import backup

    data_dir = kiosk.config.paths.data_dir
    report = backup.pending_restore_report(data_dir)
    if report is None:
        return
    lifted = report.get("holds_lifted") or []
    message = (
        f"已从备份{report.get('backup', '?')}恢复数据库"
        + ("（来自另一台设备）" if report.get("foreign") else "")
        + (f"，解除了{len(lifted)}项暂停" if lifted else "")
    )
    with kiosk.store.transaction():
        kiosk.alarms.raise_("backup_restored", "critical", message, report,
                            subject=str(report.get("backup", "")))  # fmt: skip
        kiosk.audit.append("backup.restored", report)
    backup.clear_restore_report(data_dir)
    log.error("database was restored from a backup: %s", report)


def _report_restore(kiosk: Kiosk) -> None:
    """A database older than a counter floor (certificate numbers or event ids) was put
    back: say so, once, to the county, on any rollback, even of one number. (A power cut
    between a floor write and its commit also leaves a gap of one: the message names
    both causes; it was silent before, and a restore of the last certificate went unseen.)
    """
    numbers = kiosk.numbers
    # Read under the write lock: another process (the CLI beside the touch UI) writes
    # its floor just before its commit, which seen from outside the lock looks like a
    # restore (a false critical alarm, and a number skipped).
    with kiosk.store.transaction():
        gap = numbers.restored_gap()
        event_floor = numbers.floors.read().event
        event_gap = event_floor - kiosk.store.counter(EVENT_COUNTER)
        if gap > 0 or event_gap > 0:
            log.error("counters behind their floors (certificates %d, events %d): an older "
                      "database?", gap, event_gap)  # fmt: skip
            # Lift the counters first, so the alarm's own event id is above the floor and
            # the alarm is raised once, not at every start.
            if gap > 0:
                kiosk.store.advance_counter("certificate_seq", at_least=numbers.read_floor() - 1)
            if event_gap > 0:
                kiosk.store.advance_counter(EVENT_COUNTER, at_least=event_floor - 1)
            kiosk.alarms.raise_(
                "counter_restored",
                "critical",
                "数据库比证号或事件编号记录旧：可能恢复了旧备份（或开证时断电），"
                "编号将从记录值之后继续",
                {"floor": numbers.read_floor(), "gap": gap, "event_floor": event_floor,
                 "event_gap": event_gap},
            )  # fmt: skip
