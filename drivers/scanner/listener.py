"""The reconnecting reader thread every scanner backend runs.

A backend supplies ``connect()`` (open the device, raising OSError when it is absent)
and the returned connection's ``pump()`` (read what is there for at most one poll
interval, decode, return codes; raise OSError when the device went away). This loop
keeps reconnecting until closed, so a scanner unplugged and plugged back in simply
resumes, and nothing a listener does can stop it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from drivers.scanner import BarcodeScanner, ScanCallback
from drivers.scanner.dispatch import ScanDispatcher

log = logging.getLogger(__name__)

#: How long a connection's pump may block: bounds close() latency and how late an
#: unterminated burst is noticed.
POLL_INTERVAL_S = 0.05

#: Pause between attempts to find a missing device. After a replug udev needs a few
#: hundred milliseconds to create the device node and its by-id link; retrying each
#: second costs nothing and brings the scanner back before anyone notices.
RECONNECT_INTERVAL_S = 1.0


class Connection(Protocol):
    def pump(self, timeout: float) -> list[str]: ...

    def close(self) -> None: ...


class ReaderScanner(BarcodeScanner):
    """A ``BarcodeScanner`` over any (connect, pump) pair; the thread starts at construction.

    Reading starts at once (an evdev device is grabbed immediately, so stray scans
    never reach the UI as key presses); scans before ``start()`` are logged and dropped.
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], Connection],
        *,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.name = name
        self._connect = connect
        self._reconnect_interval = reconnect_interval
        self._poll_interval = poll_interval
        self._dispatcher = ScanDispatcher(name)
        self._stop = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self.connected = threading.Event()
        #: How many times a connection was opened (1 at first, +1 per replug).
        self.connections = 0
        self._thread = threading.Thread(target=self._run, name=f"scanner:{name}", daemon=True)
        self._thread.start()

    @property
    def dispatcher(self) -> ScanDispatcher:
        return self._dispatcher

    def start(self, on_scan: ScanCallback) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        self._dispatcher.set_callback(on_scan)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._dispatcher.set_callback(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5 * max(self._poll_interval, 0.2))
            if self._thread.is_alive():
                log.error("%s: reader thread did not stop", self.name)

    def _run(self) -> None:
        quiet = False  # log a missing device once, not every second
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except OSError as exc:
                (log.debug if quiet else log.warning)("%s: not available: %s", self.name, exc)
                quiet = True
                self._stop.wait(self._reconnect_interval)
                continue
            except Exception:
                log.exception("%s: opening failed unexpectedly", self.name)
                self._stop.wait(self._reconnect_interval)
                continue
            quiet = False
            self.connections += 1
            self.connected.set()
            log.info("%s: connected", self.name)
            try:
                self._pump(conn)
            finally:
                self.connected.clear()
                try:
                    conn.close()
                except OSError as exc:
                    log.debug("%s: closing the old connection: %s", self.name, exc)

    def _pump(self, conn: Connection) -> None:
        while not self._stop.is_set():
            try:
                codes = conn.pump(self._poll_interval)
            except OSError as exc:
                log.warning("%s: lost the device (%s); reconnecting", self.name, exc)
                self._stop.wait(self._reconnect_interval)
                return
            except Exception:
                log.exception("%s: reading failed unexpectedly; reconnecting", self.name)
                self._stop.wait(self._reconnect_interval)
                return
            for code in codes:
                self._dispatcher.deliver(code)
