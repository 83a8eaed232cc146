"""The ``BarcodeScanner`` seam: a scanner delivers whole scans, one callback per code."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

#: Receives one decoded scan (without its terminator). Called from the scanner's thread.
ScanCallback = Callable[[str], None]


class BarcodeScanner(ABC):
    """One physical scanner (HID keyboard wedge over evdev, or serial CDC).

    ``start`` begins delivering scans to ``on_scan``; scans before it are dropped with
    a log line. Garbage (an unterminated burst, a code with control characters) is
    dropped with a log line, never delivered half or glued to the next code. A
    listener that raises is logged and the scanner carries on; an unplugged scanner
    reconnects by itself. ``close()`` is idempotent, may be called from the listener,
    and ``start`` after it raises RuntimeError.
    """

    @abstractmethod
    def start(self, on_scan: ScanCallback) -> None:
        """Deliver every later scan to ``on_scan`` (replacing any earlier listener)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> BarcodeScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
