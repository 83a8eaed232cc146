"""``LabelPrinter`` over any transport: profile + encoder + status, one copy at a time."""

from __future__ import annotations

import logging

from drivers.printer.base import (
    LabelPrinter,
    PrinterError,
    PrinterFault,
    PrinterStatus,
    ProgressCallback,
)
from drivers.printer.document import LabelDocument
from drivers.printer.encoding import LabelEncoder
from drivers.printer.profiles import PrinterProfile
from drivers.printer.status import UNKNOWN, query_escpos, query_tspl, wait_tspl_idle
from drivers.printer.transports.base import Transport, TransportError

log = logging.getLogger(__name__)

#: How long a TSPL printer may keep its "printing" bit set after PRINT 1.
DEFAULT_CONFIRM_WAIT_S = 30.0


class TransportPrinter(LabelPrinter):
    """Checks status before the job and after every copy; a copy counts once confirmed.

    Where the transport cannot read (a device file) status is unknown and a copy is
    confirmed by its write completing.
    """

    def __init__(
        self,
        profile: PrinterProfile,
        transport: Transport,
        encoder: LabelEncoder,
        *,
        status_timeout_s: float = 1.0,
        confirm_wait_s: float = DEFAULT_CONFIRM_WAIT_S,
    ) -> None:
        self.profile = profile
        self.transport = transport
        self.encoder = encoder
        self.status_timeout_s = status_timeout_s
        self.confirm_wait_s = confirm_wait_s
        self._closed = False

    def status(self) -> PrinterStatus:
        if not self.profile.status or not self.transport.can_read:
            return UNKNOWN
        if self.profile.language == "tspl":
            return query_tspl(self.transport, self.status_timeout_s)
        return query_escpos(self.transport, self.status_timeout_s)

    def _status_after_copy(self) -> PrinterStatus:
        if not self.profile.status or not self.transport.can_read:
            return UNKNOWN
        if self.profile.language == "tspl":
            return wait_tspl_idle(self.transport, self.status_timeout_s, self.confirm_wait_s)
        return query_escpos(self.transport, self.status_timeout_s)

    def _check(self, status: PrinterStatus, copies_done: int, when: str) -> None:
        fault = status.fault if status.known else None
        if fault is not None:
            raise PrinterError(fault, f"printer {fault.value} {when}", copies_done)
        if status.paper_low:
            log.warning("printer reports paper low")

    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        if self._closed:
            raise PrinterError(PrinterFault.OFFLINE, "printer is closed", 0)
        if copies < 1:
            raise ValueError("copies must be at least 1")
        encoded = self.encoder.encode(document)
        self._check(self.status(), 0, "before the job")
        for done in range(copies):
            data = encoded.first if done == 0 else encoded.repeat
            try:
                self.transport.write(data)
            except TransportError as exc:
                raise PrinterError(
                    PrinterFault.OFFLINE, f"sending copy failed: {exc}", done
                ) from exc
            self._check(self._status_after_copy(), done, f"after copy {done + 1} of {copies}")
            log.info("copy %d of %d confirmed (%d bytes)", done + 1, copies, len(data))
            if progress is not None:
                progress(done + 1, copies)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.transport.close()
