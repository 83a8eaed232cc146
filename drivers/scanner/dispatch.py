"""Hands finished codes to whoever listens, without letting the listener hurt the reader."""

from __future__ import annotations

import logging
import threading

from drivers.scanner import ScanCallback

log = logging.getLogger(__name__)


class ScanDispatcher:
    """Holds the one ``on_scan`` callback; thread-safe to set while scans arrive."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._callback: ScanCallback | None = None
        #: Scans handed over successfully / dropped because nobody listened or it raised.
        self.delivered = 0
        self.undelivered = 0

    def set_callback(self, callback: ScanCallback | None) -> None:
        with self._lock:
            self._callback = callback

    def deliver(self, code: str) -> None:
        """Call the listener outside the lock, so it may call back into the scanner."""
        with self._lock:
            callback = self._callback
        if callback is None:
            self.undelivered += 1
            log.warning(
                "%s: scan of %d characters dropped: nobody listening", self._source, len(code)
            )
            return
        try:
            callback(code)
        except Exception:
            self.undelivered += 1
            log.exception("%s: the scan listener raised; the scanner keeps running", self._source)
        else:
            self.delivered += 1
