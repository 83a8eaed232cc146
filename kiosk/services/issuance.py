"""Issuing, printing, reprinting and voiding certificates.

The order of work is what makes a pulled power cord harmless: validate, then
commit the certificate (number, signature, QR, outbox event) in one
transaction, then print, then mark it printed only once the printer has
confirmed. A crash before the commit leaves nothing; after it, a recorded
certificate that is found unprinted and can be reprinted (补打) or voided.
Never a second number for the same goods, never a label without a record.
"""

from __future__ import annotations

import builtins
import csv
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from drivers.printer.base import (
    LabelPrinter,
    PrinterError,
    PrinterFault,
    PrinterStatus,
    ProgressCallback,
)
from drivers.printer.document import LabelDocument
from kiosk.domain.catalogue import Catalogue, Template, template_for
from kiosk.domain.model import (
    Basis,
    Certificate,
    CertificateRequest,
    CertificateStatus,
    Issuer,
    Style,
    format_quantity,
)
from kiosk.domain.validation import InputError, check_text, spreadsheet_cell, validate_request
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.numbering import CertificateNumbers, format_number
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.infra.timetrust import TimeTrust, report
from kiosk.services.county_holds import county_hold_for, grade_refusal, offered_bases
from kiosk.services.holds import HoldRegistry
from kiosk.services.labels import layout_certificate
from kiosk.services.sources import Source, SourceVerifier
from wire import events
from wire.qr import (
    MAX_QR_VERSION,
    CertificateFields,
    build_qr_text,
    encode_body,
    qr_version,
    signed_message,
)
from wire.signing import SigningKey

log = logging.getLogger(__name__)

#: Below this much free space the kiosk stops issuing rather than risk a torn write.
DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024

_ALARM_CODES = {
    PrinterFault.PAPER_OUT: "paper_out",
    PrinterFault.COVER_OPEN: "cover_open",
    PrinterFault.OFFLINE: "printer_offline",
    PrinterFault.ERROR: "printer_offline",
}
#: Raised when printing ended in an error that is not a printer fault (a bug, a
#: layout that did not fit, a driver crash): the job is failed, never left pending.
PRINT_FAILED_ALARM = "print_failed"

_NOT_READY = {
    PrinterFault.PAPER_OUT: (
        "打印机缺纸", "The printer is out of paper",
    ),
    PrinterFault.COVER_OPEN: (
        "打印机盖子没有合上", "The printer cover is open",
    ),
    PrinterFault.OFFLINE: (
        "打印机没有连接", "The printer is not connected",
    ),
    PrinterFault.ERROR: (
        "打印机故障", "The printer reports a fault",
    ),
}  # fmt: skip


class IssuanceRefused(Exception):
    """The kiosk will not issue this certificate; ``message`` says why and what to do
    (zh-CN); ``message_en`` is the English for a kiosk switched to English, when given."""

    def __init__(self, code: str, message: str, message_en: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_en = message_en or message

    def text(self, language: str = "zh-CN") -> str:
        return self.message_en if language == "en" else self.message


class CertificateNotFound(LookupError):
    pass


@dataclass(frozen=True)
class IssuanceSettings:
    county: str
    device_id: str
    township: str
    service_point: str
    template_edition: str
    verify_url: str
    paper: str
    copies_max: int = 20
    language: str = "zh-CN"
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    #: A simulated kiosk: every label says 演示 (docs/certificates.md).
    demo: bool = False


@dataclass(frozen=True)
class PrintOutcome:
    certificate: Certificate
    copies_requested: int
    copies_done: int
    error: PrinterError | None = None

    @property
    def printed(self) -> bool:
        return self.error is None


#: Checks that a test used as the basis covers what was used on the crop; returns a refusal.
#: A refusal in plain words, or (zh-CN, English), or None when the basis stands.
EvidenceCheck = Callable[[CertificateRequest], str | tuple[str, str] | None]


class IssuanceService:
    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        alarms: Alarms,
        audit: AuditLog,
        holds: HoldRegistry,
        catalogue: Catalogue,
        templates: dict[str, Template],
        signer: SigningKey,
        numbers: CertificateNumbers,
        printer: LabelPrinter,
        settings: IssuanceSettings,
        clock: Callable[[], datetime],
        evidence: EvidenceCheck | None = None,
        resolve: Callable[[Issuer], Issuer] | None = None,
        sample_of: Callable[[str], str | None] | None = None,
        sources: SourceVerifier | None = None,
        time_trust: TimeTrust | None = None,
        sample_inputs: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.alarms = alarms
        self.audit = audit
        self.holds = holds
        self.catalogue = catalogue
        self.templates = templates
        self.signer = signer
        self.numbers = numbers
        self.printer = printer
        self.settings = settings
        self.clock = clock
        self.evidence = evidence
        #: Gives the issuer its one producer key (ProducerRegistry.resolve).
        self.resolve = resolve
        #: The sample a rapid test was run on: a 自行检测合格 certificate names it.
        self.sample_of = sample_of
        #: The inputs declared for the sample a rapid test ran on: a banned one there
        #: refuses a certificate resting on the test as if the request declared it.
        self.sample_inputs = sample_inputs
        #: Verifies 样式二 source certificates (set by the composition root).
        self.sources = sources
        #: Whether the clock may date a certificate (kiosk/infra/timetrust.py).
        self.time_trust = time_trust

    # -- checks --------------------------------------------------------------------

    def clock_refusal(self) -> IssuanceRefused | None:
        """The refusal when the clock cannot date a certificate, else None.

        An untrusted clock raises alarm ``clock`` (critical) and an audit row
        once per episode; a trusted one clears it. The touch UI asks every few seconds
        for its out-of-service page; ``check`` asks before anything else."""
        if self.time_trust is None:
            return None
        verdict = self.time_trust.assess(self.clock())
        report(verdict, self.store, self.alarms, self.audit)
        if verdict.trusted:
            return None
        return IssuanceRefused("clock", verdict.message(), verdict.message("en"))

    def offered_bases(self, issuer: Issuer) -> set[Basis]:
        """The bases the screen offers this 承诺主体 (the county's grade may narrow them)."""
        return offered_bases(self.store, issuer, self.clock())

    def template(self, style: Style) -> Template:
        return template_for(self.templates, self.settings.template_edition, style)

    def check(
        self, request: CertificateRequest, *, basis_chosen: bool = True
    ) -> CertificateRequest:
        """Everything that can refuse a request, without writing anything.

        ``basis_chosen=False``: a probe before the farmer picked a basis (the screens ask
        early whether a hold or a grade refuses this producer at all)."""
        request = validate_request(
            request, self.catalogue, self.template(request.style), self.settings.copies_max
        )
        clock = self.clock_refusal()
        if clock is not None:
            raise clock
        if self.resolve is not None:
            request = replace(request, issuer=self.resolve(request.issuer))
        declared = request.inputs_used
        if self.sample_inputs and request.basis is Basis.SELF_TEST and request.test_ref:
            declared = tuple(dict.fromkeys((*declared, *self.sample_inputs(request.test_ref))))
        self._refuse_banned_inputs(request, declared)
        hold = self.holds.is_held(request.issuer.producer_key, request.product_code)
        if hold:
            product = self.catalogue.products[request.product_code].name
            raise IssuanceRefused(
                "hold",
                f"{product}因快检阳性被暂停开证（{hold.reason}）。"
                "请联系乡镇监管站，县里解除暂停后才能开具。",
            )
        county_hold = county_hold_for(self.store, request.issuer, request.product_code)
        if county_hold:
            contact = county_hold.contact or "乡镇监管站"
            raise IssuanceRefused(
                "county_hold",
                f"该主体已被县里暂停开证（{county_hold.reason}）。"
                f"请联系{contact}，县里解除暂停后才能开具。",
                f"The county has suspended certificates for this producer "
                f"({county_hold.reason}). Please contact {contact}; certificates can be "
                "issued again once the county lifts it.",
            )
        graded = grade_refusal(self.store, request, self.clock(), basis_chosen=basis_chosen)
        if graded:
            raise IssuanceRefused("county_grade", *graded)
        if self.evidence and request.basis.needs_test:
            refusal = self.evidence(request)
            if refusal:
                raise IssuanceRefused("evidence", *_texts(refusal))
        if request.style is Style.BUYER:
            verified = self._verified_sources(request)
            numbers = tuple(s.number for s in verified)
            request = replace(request, source_certificate=numbers[0])
        free = shutil.disk_usage(self.store.path.parent).free
        if free < self.settings.min_free_bytes:
            raise IssuanceRefused(
                "disk_full", "终端存储空间不足，暂时不能开证。请联系技术员清理或更换存储卡。"
            )
        return request

    def _refuse_banned_inputs(self, request: CertificateRequest, declared: tuple[str, ...]) -> None:
        """A declared banned input (by the request or its test's sample): refuse, tell the
        county and audit it (the only writes a refusal makes; no number is spent and
        nothing is printed)."""
        banned = self.catalogue.banned_inputs(declared)
        if not banned:
            return
        product = self.catalogue.products[request.product_code]
        names = "、".join(i.name for i in banned)
        names_en = ", ".join(i.name_en for i in banned)
        key = request.issuer.producer_key
        detail = {
            "producer_key": key,
            "issuer_name": request.issuer.name,
            "product_code": product.code,
            "product_name": product.name,
            "inputs": [i.code for i in banned],
            "sources": sorted({i.source for i in banned}),
        }
        message = f"申报使用禁用投入品：{names}（{product.name}，{request.issuer.name}）"
        with self.store.transaction():
            self.alarms.raise_(
                "banned_input_declared", "critical", message, detail,
                subject=f"{key}/{product.code}",
            )  # fmt: skip
            self.audit.append("certificate.refused", {"reason": "banned_input", **detail})
        log.warning("refused: banned input %s declared for %s by %s", names, product.code, key)
        raise IssuanceRefused(
            "banned_input",
            f"{names}是国家禁用的药物，用过禁用药的{product.name}不能开具合格证，"
            "也不能上市销售。本次没有开证，已报告乡镇监管站。",
            f"{names_en} is banned by law. {product.name_en} treated with a banned "
            "substance cannot carry a certificate or be sold. No certificate was issued; "
            "the township supervision station has been informed.",
        )

    def printer_ready(self) -> IssuanceRefused | None:
        """Ask the printer now; the refusal to show when it cannot print, else None.

        The touch UI asks (on the printer's worker) when a farmer starts, and ``issue``
        asks again before a number is spent, so a printer that is out of paper costs a
        farmer nothing. A fault raises its alarm, as a failed job would. A printer that
        cannot report its status (a device file, some serial links) counts as ready;
        its failures surface while printing."""
        try:
            status = self.printer.status()
        except Exception as error:  # a driver that raises where it should report
            log.warning("printer status failed: %s", error)
            status = PrinterStatus(online=False)
        fault = status.fault if status.known else None
        if fault is None:
            return None
        zh, en = _NOT_READY[fault]
        self.alarms.raise_(_ALARM_CODES[fault], "warning", zh, {"before": "issue"})
        return IssuanceRefused(
            "printer_not_ready",
            f"{zh}，暂时不能开证（没有占用证号）。请联系工作人员处理后再开。",
            f"{en}: no certificate can be issued now (no number was used). "
            "Please ask the staff, then try again.",
        )

    # -- issuing ------------------------------------------------------------------

    def preview(self, request: CertificateRequest) -> tuple[Certificate, LabelDocument]:
        """The label as it will print, with a placeholder number; writes nothing."""
        request = self.check(request)
        template = self.template(request.style)
        # The number is given at printing: the preview shows stars of the same width.
        placeholder = f"{self.settings.county}-{self.settings.device_id}-{'*' * 7}"
        draft = self._certificate(request, template, 0, placeholder)
        return draft, self._fitting_layout(draft)

    def issue(
        self,
        request: CertificateRequest,
        progress: ProgressCallback | None = None,
        *,
        by: str = "",
    ) -> PrintOutcome:
        """Record, sign and print a certificate; see the module docstring for the order.

        ``by`` names who issued it for the farmer (a staff member, a CLI user); empty
        for the farmer's own self-service. It goes to the audit chain."""
        request = self.check(request)
        template = self.template(request.style)
        # Measure the QR with the widest number before a number is spent on it.
        probe = self._certificate(
            request,
            template,
            9_999_999,
            format_number(self.settings.county, self.settings.device_id, 9_999_999),
        )
        if qr_version(probe.qr_text) > MAX_QR_VERSION:
            field = "issuer.name" if len(probe.issuer.name) > len(probe.origin) else "origin"
            raise InputError(field, "too_long", "填写的信息太长，二维码放不下：请缩短产地或名称")
        self._fitting_layout(probe)  # refuses what the label cannot hold
        not_ready = self.printer_ready()
        if not_ready is not None:
            raise not_ready
        try:
            with self.store.transaction():
                if self.evidence and request.basis.needs_test:
                    # Again under the write lock: two certificates on one batch at once
                    # must not together exceed it.
                    refusal = self.evidence(request)
                    if refusal:
                        raise IssuanceRefused("evidence", *_texts(refusal))
                verified = (
                    self._verified_sources(request) if request.style is Style.BUYER else []
                )  # again under the lock: two buyers' certificates cannot overrun a source
                seq, number = self.numbers.next()
                cert = self._certificate(request, template, seq, number)
                if self.time_trust is not None:  # in this transaction (kiosk/infra/timetrust.py)
                    self.time_trust.raise_floor(cert.issued_at)
                self._insert(cert)
                for position, source in enumerate(verified):
                    self.store.conn.execute(
                        "INSERT INTO certificate_sources (certificate_number, position, "
                        "source_number, source_product, source_quantity, source_unit, qr_text) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [number, position, source.number, source.product_name,
                         str(source.quantity), source.unit, source.qr_text],
                    )  # fmt: skip
                job = self._start_job(number, "print", request.copies)
                self.outbox.enqueue(self._event(cert))
                self.audit.append(
                    "certificate.issued",
                    {"number": number, "product_code": cert.product_code,
                     "copies": request.copies, **({"by": by} if by else {})},
                )  # fmt: skip
        except sqlite3.OperationalError as error:
            raise self._storage_refusal(error) from error
        log.info("issued %s (%s %s)", number, cert.product_name, cert.quantity_text)
        return self._print(cert, job, request.copies, reprint=False, progress=progress)

    def reprint(
        self, number: str, copies: int = 1, progress: ProgressCallback | None = None
    ) -> PrintOutcome:
        """Print again, marked 补打 when a copy was printed before; the number stays.

        A first print that failed before any copy came out is not a 补打: its label
        must not say so."""
        cert = self.get(number)
        if cert.status is CertificateStatus.VOIDED:
            raise IssuanceRefused("voided", f"合格证 {number} 已作废，不能补打")
        if not 1 <= copies <= self.settings.copies_max:
            raise InputError("copies", "copies", f"打印份数为1到{self.settings.copies_max}张")
        with self.store.transaction():
            job = self._start_job(number, "reprint", copies)
            reprint_no = self.store.conn.execute(
                "SELECT count(*) FROM print_jobs WHERE certificate_number = ? AND kind = 'reprint'",
                [number],
            ).fetchone()[0]
            event = events.certificate_reprinted(
                number=number, copies=copies, reprint_no=reprint_no
            )
            self.outbox.enqueue(event)
            self.audit.append("certificate.reprinted", dict(event.data))
        return self._print(cert, job, copies, reprint=cert.print_count > 0, progress=progress)

    def void(self, number: str, reason: str, *, by: str = "") -> Certificate:
        """Void a certificate; ``by`` (the staff member or CLI user) goes to the audit chain."""
        reason = check_text(reason or "", "reason", "作废原因", 1, 100)
        with self.store.transaction():
            cert = self.get(number)
            if cert.status is CertificateStatus.VOIDED:
                raise IssuanceRefused("voided", f"合格证 {number} 已经作废")
            self.store.conn.execute(
                "UPDATE certificates SET status = 'voided', voided_at = ?, void_reason = ? "
                "WHERE number = ?",
                [self.clock().isoformat(), reason, number],
            )
            event = events.certificate_voided(number=number, reason=reason)
            self.outbox.enqueue(event)
            self.audit.append("certificate.voided", {**event.data, "by": by})
        log.info("voided %s: %s", number, reason)
        return self.get(number)

    def layout(self, cert: Certificate, *, reprint: bool = False) -> LabelDocument:
        template = self.templates[cert.template_id]
        return layout_certificate(
            cert,
            template,
            self.settings.paper,
            language=self.settings.language,
            reprint=reprint,
            demo=self.settings.demo,
        )

    def check_source(self, code: str, product_code: str) -> Source:
        """One scanned 样式二 source, verified as it is scanned (the touch UI lists it or
        shows why not); ``InputError`` with the reason."""
        if self.sources is None:
            raise InputError("sources", "unavailable", "本机不能核验来源合格证")
        return self.sources.check(code, product_code)

    def _verified_sources(self, request: CertificateRequest) -> builtins.list[Source]:
        if self.sources is None:
            raise InputError("sources", "unavailable", "本机不能核验来源合格证")
        return self.sources.check_request(request)

    def _fitting_layout(self, cert: Certificate) -> LabelDocument:
        """The layout, or a refusal naming what to shorten: found before a number."""
        try:
            return self.layout(cert)
        except ValueError as error:
            log.info("label does not fit: %s", error)
            lengths = {
                "issuer.name": len(cert.issuer.name), "origin": len(cert.origin),
                "lab_name": len(cert.lab_name or ""), "ear_tags": 8 * len(cert.ear_tags),
            }  # fmt: skip
            field = max(lengths, key=lambda k: lengths[k])
            raise InputError(
                field,
                "too_long",
                "填写的内容太多，标签放不下：请缩短名称、产地或检测机构，或分批开具",
            ) from None

    # -- queries ------------------------------------------------------------------

    def get(self, number: str) -> Certificate:
        rows = self._query("SELECT * FROM certificates WHERE number = ?", [number])
        if not rows:
            raise CertificateNotFound(f"没有编号为 {number} 的合格证")
        return rows[0]

    def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        status: CertificateStatus | None = None,
        producer_key: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Certificate]:
        clauses, params = [], []
        if since:
            clauses.append("issued_at >= ?")
            params.append(since.isoformat())
        if until:
            clauses.append("issued_at < ?")
            params.append(until.isoformat())
        if status:
            clauses.append("status = ?")
            params.append(status.value)
        if producer_key:
            clauses.append("producer_key = ?")
            params.append(producer_key)
        sql = "SELECT * FROM certificates"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._query(sql, params)

    def unprinted(self) -> builtins.list[Certificate]:
        return self.list(status=CertificateStatus.ISSUED)

    def export_csv(self, out: IO[str], certificates: Iterable[Certificate]) -> int:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for c in certificates:
            writer.writerow([spreadsheet_cell(v) for v in (
                c.number, c.issued_at.isoformat(), c.status.value, c.product_code,
                c.product_name, format_quantity(c.quantity), c.unit, c.origin, c.issuer.name,
                c.issuer.phone, c.basis.value, " ".join(c.inputs_used), c.test_ref or "",
                c.source_certificate or "", c.print_count, c.template_id,
            )])  # fmt: skip
            count += 1
        return count

    # -- internals ----------------------------------------------------------------

    def _certificate(
        self, request: CertificateRequest, template: Template, seq: int, number: str
    ) -> Certificate:
        product = self.catalogue.products[request.product_code]
        issued_at = self.clock().replace(second=0, microsecond=0)
        cert = Certificate(
            number=number,
            seq=seq,
            device_id=self.settings.device_id,
            county=self.settings.county,
            issued_at=issued_at,
            template_id=template.id,
            style=request.style,
            product_code=product.code,
            product_name=product.name,
            quantity=request.quantity,
            unit=request.unit,
            origin=request.origin,
            issuer=request.issuer,
            basis=request.basis,
            inputs_used=request.inputs_used,
            test_ref=request.test_ref,
            source_certificate=request.source_certificate,
            sample_id=(
                self.sample_of(request.test_ref)
                if self.sample_of and request.basis is Basis.SELF_TEST and request.test_ref
                else None
            ),
            lab_name=request.lab_name,
            sources=self._source_numbers(request),
            quarantine_cert=request.quarantine_cert,
            ear_tags=request.ear_tags,
        )
        fields = CertificateFields(
            number=number,
            product=cert.product_name,
            quantity=cert.quantity_text,
            origin=cert.origin,
            issuer=cert.issuer.name,
            phone=cert.issuer.phone,
            issued_at=issued_at,
            basis=cert.basis.value,
            template_code=template.code,
            test_ref=cert.test_ref or "",
            source_certificate=cert.source_certificate or "",
        )
        body = encode_body(fields)
        url = self.settings.verify_url
        qr = build_qr_text(url, body, self.signer.sign(signed_message(url, body)))
        return Certificate(**{**cert.__dict__, "qr_text": qr})

    def _source_numbers(self, request: CertificateRequest) -> tuple[str, ...]:
        """The numbers of a 样式二 request's sources (verified by ``check``)."""
        if request.style is not Style.BUYER or self.sources is None:
            return ()
        return tuple(s.number for s in self.sources.check_request(request))

    def _insert(self, cert: Certificate) -> None:
        self.store.conn.execute(
            "INSERT INTO certificates (number, seq, device_id, county, issued_at, template_id, "
            "style, product_code, product_name, quantity, unit, origin, issuer_name, "
            "issuer_phone, producer_key, basis, inputs_used, test_ref, source_certificate, "
            "status, print_count, qr_text, sample_id, lab_name, quarantine_cert, ear_tags) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'issued', 0, "
            "?, ?, ?, ?, ?)",
            [
                cert.number, cert.seq, cert.device_id, cert.county, cert.issued_at.isoformat(),
                cert.template_id, cert.style.value, cert.product_code, cert.product_name,
                str(cert.quantity), cert.unit, cert.origin, cert.issuer.name, cert.issuer.phone,
                cert.issuer.producer_key, cert.basis.value, json.dumps(list(cert.inputs_used)),
                cert.test_ref, cert.source_certificate, cert.qr_text, cert.sample_id,
                cert.lab_name, cert.quarantine_cert, json.dumps(list(cert.ear_tags)),
            ],
        )  # fmt: skip

    def _start_job(self, number: str, kind: str, copies: int) -> int:
        cursor = self.store.conn.execute(
            "INSERT INTO print_jobs (certificate_number, kind, copies, state, created_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            [number, kind, copies, self.clock().isoformat()],
        )
        assert cursor.lastrowid is not None  # an INSERT into a rowid table
        return cursor.lastrowid

    def _print(
        self,
        cert: Certificate,
        job: int,
        copies: int,
        *,
        reprint: bool,
        progress: ProgressCallback | None,
    ) -> PrintOutcome:
        done = [0]

        def counted(copies_done: int, total: int) -> None:
            done[0] = copies_done
            if progress is not None:
                progress(copies_done, total)

        try:
            document = self.layout(cert, reprint=reprint)
            self.printer.print_label(document, copies, counted)
        except PrinterError as error:
            log.warning(
                "print of %s failed after %d copies: %s", cert.number, error.copies_done, error
            )
            with self.store.transaction():
                self._finish_job(job, "failed", error.copies_done, str(error))
                self._count_printed(cert.number, error.copies_done, mark_printed=False)
                self.alarms.raise_(
                    _ALARM_CODES[error.fault],
                    "warning",
                    str(error),
                    {"certificate": cert.number, "copies_done": error.copies_done},
                )
            return PrintOutcome(self.get(cert.number), copies, error.copies_done, error)
        except Exception as error:  # anything else: the job ends failed, never pending
            log.exception("print of %s failed after %d copies", cert.number, done[0])
            failure = PrinterError(PrinterFault.ERROR, f"打印出错：{error}", done[0])
            with self.store.transaction():
                self._finish_job(job, "failed", done[0], f"{type(error).__name__}: {error}")
                self._count_printed(cert.number, done[0], mark_printed=False)
                self.alarms.raise_(
                    PRINT_FAILED_ALARM,
                    "critical",
                    f"打印出错：{type(error).__name__}: {error}",
                    {"certificate": cert.number, "copies_done": done[0]},
                )
            return PrintOutcome(self.get(cert.number), copies, done[0], failure)
        with self.store.transaction():
            self._finish_job(job, "done", copies, None)
            self._count_printed(cert.number, copies, mark_printed=True)
            self.outbox.enqueue(events.certificate_printed(number=cert.number, copies=copies))
            for code in (*sorted(set(_ALARM_CODES.values())), PRINT_FAILED_ALARM):
                self.alarms.clear(code)  # the printer works again
        return PrintOutcome(self.get(cert.number), copies, copies)

    def _finish_job(self, job: int, state: str, done: int, error: str | None) -> None:
        self.store.conn.execute(
            "UPDATE print_jobs SET state = ?, copies_done = ?, error = ?, finished_at = ? "
            "WHERE id = ?",
            [state, done, error, self.clock().isoformat(), job],
        )

    def _count_printed(self, number: str, copies: int, *, mark_printed: bool) -> None:
        self.store.conn.execute(
            "UPDATE certificates SET print_count = print_count + ?, "
            "status = CASE WHEN ? AND status = 'issued' THEN 'printed' ELSE status END "
            "WHERE number = ?",
            [copies, mark_printed, number],
        )

    def _event(self, cert: Certificate) -> events.Event:
        return events.certificate_issued(
            number=cert.number,
            seq=cert.seq,
            issued_at=cert.issued_at,
            template_id=cert.template_id,
            style=cert.style.value,
            product_code=cert.product_code,
            product_name=cert.product_name,
            quantity=cert.quantity,
            unit=cert.unit,
            origin=cert.origin,
            issuer_name=cert.issuer.name,
            issuer_phone=cert.issuer.phone,
            producer_key=cert.issuer.producer_key,
            basis=cert.basis.value,
            inputs_used=cert.inputs_used,
            test_ref=cert.test_ref,
            source_certificate=cert.source_certificate,
            township=self.settings.township,
            service_point=self.settings.service_point,
            sample_id=cert.sample_id,
            lab_name=cert.lab_name,
            sources=list(cert.sources),
            quarantine_cert=cert.quarantine_cert,
            ear_tags=list(cert.ear_tags),
        )

    def _query(self, sql: str, params: builtins.list[Any]) -> builtins.list[Certificate]:
        cursor = self.store.conn.execute(sql, params)
        columns = [d[0] for d in cursor.description]
        found = [_from_row(dict(zip(columns, row, strict=True))) for row in cursor]
        return [self._with_sources(c) if c.style is Style.BUYER else c for c in found]

    def _with_sources(self, cert: Certificate) -> Certificate:
        rows = self.store.conn.execute(
            "SELECT source_number FROM certificate_sources WHERE certificate_number = ? "
            "ORDER BY position",
            [cert.number],
        ).fetchall()
        return replace(cert, sources=tuple(r[0] for r in rows)) if rows else cert

    @staticmethod
    def _storage_refusal(error: sqlite3.OperationalError) -> IssuanceRefused:
        text = str(error)
        if "full" in text:
            return IssuanceRefused("disk_full", "终端存储空间已满，本次没有开证，请联系技术员。")
        return IssuanceRefused("storage", f"数据库暂时不可用，本次没有开证：{text}")


CSV_COLUMNS = [
    "number", "issued_at", "status", "product_code", "product_name", "quantity", "unit",
    "origin", "issuer_name", "issuer_phone", "basis", "inputs_used", "test_ref",
    "source_certificate", "print_count", "template_id",
]  # fmt: skip


def _from_row(r: dict) -> Certificate:
    producer_key = r["producer_key"]
    return Certificate(
        number=r["number"],
        seq=r["seq"],
        device_id=r["device_id"],
        county=r["county"],
        issued_at=datetime.fromisoformat(r["issued_at"]),
        template_id=r["template_id"],
        style=Style(r["style"]),
        product_code=r["product_code"],
        product_name=r["product_name"],
        quantity=Decimal(r["quantity"]),
        unit=r["unit"],
        origin=r["origin"],
        issuer=Issuer(
            r["issuer_name"],
            r["issuer_phone"],
            None if producer_key.startswith("tel:") else producer_key,
        ),
        basis=Basis(r["basis"]),
        inputs_used=tuple(json.loads(r["inputs_used"])),
        test_ref=r["test_ref"],
        source_certificate=r["source_certificate"],
        sample_id=r.get("sample_id"),
        lab_name=r.get("lab_name"),
        quarantine_cert=r.get("quarantine_cert"),
        ear_tags=tuple(json.loads(r.get("ear_tags") or "[]")),
        status=CertificateStatus(r["status"]),
        print_count=r["print_count"],
        qr_text=r["qr_text"],
    )


def _texts(refusal: str | tuple[str, str]) -> tuple[str, ...]:
    """An evidence refusal as IssuanceRefused's message (and English, when given)."""
    return (refusal,) if isinstance(refusal, str) else refusal
