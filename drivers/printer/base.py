"""The ``LabelPrinter`` seam: what the kiosk may ask of any label or receipt printer."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from drivers.printer.document import LabelDocument


class PrinterFault(enum.StrEnum):
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    ERROR = "error"  # cutter jam, head overheat, anything else the printer reports


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer says about itself; ``known`` is False where the transport cannot read."""

    online: bool = True
    paper_out: bool = False
    paper_low: bool = False
    cover_open: bool = False
    error: bool = False
    known: bool = True

    @property
    def ready(self) -> bool:
        return self.online and not (self.paper_out or self.cover_open or self.error)

    @property
    def fault(self) -> PrinterFault | None:
        if not self.online:
            return PrinterFault.OFFLINE
        if self.paper_out:
            return PrinterFault.PAPER_OUT
        if self.cover_open:
            return PrinterFault.COVER_OPEN
        if self.error:
            return PrinterFault.ERROR
        return None


class PrinterError(RuntimeError):
    """A job did not complete. ``copies_done`` labels are known to have printed."""

    def __init__(self, fault: PrinterFault, message: str, copies_done: int = 0) -> None:
        super().__init__(message)
        self.fault = fault
        self.copies_done = copies_done


#: Called after each copy is confirmed: (copies_done, copies_total).
ProgressCallback = Callable[[int, int], None]


class LabelPrinter(ABC):
    """One physical printer. ``close()`` is idempotent; use as a context manager."""

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Ask the printer now; never raises for a printer that does not answer (offline)."""

    @abstractmethod
    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        """Print ``copies`` labels; returns only when the printer has confirmed them.

        Raises ``PrinterError`` (with ``copies_done``) when the printer is not ready
        before the job or reports a fault after it.
        """

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> LabelPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
