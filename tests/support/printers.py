"""A printer that accepts every job and counts it, for tests about numbers, not ink."""

from __future__ import annotations

from drivers.printer.base import LabelPrinter, PrinterStatus, ProgressCallback
from drivers.printer.document import LabelDocument


class CountingPrinter(LabelPrinter):
    """Accepts every job and counts it: the tests are about numbers, not ink."""

    def __init__(self) -> None:
        self.jobs = 0

    def status(self) -> PrinterStatus:
        return PrinterStatus()

    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        self.jobs += 1
        for done in range(1, copies + 1):
            if progress:
                progress(done, copies)

    def close(self) -> None:
        pass
