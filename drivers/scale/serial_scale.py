"""A platform scale streaming readings over serial (RS-232 via USB adapter, or CDC ACM).

A reader thread keeps the newest reading; it reopens the port when the adapter is
unplugged and plugged back in (prefer the ``/dev/serial/by-id/...`` link).
"""

from __future__ import annotations

import logging
import threading

import serial

from drivers.scale import Scale, Weight
from drivers.scale.readings import STALE_AFTER_S, LineSplitter, ReadingStore

log = logging.getLogger(__name__)

#: How long one read may block: bounds close() latency.
POLL_INTERVAL_S = 0.1
#: Pause between attempts to reopen a missing port (udev needs a moment after replug).
RECONNECT_INTERVAL_S = 1.0


class SerialScale(Scale):
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        stale_after: float = STALE_AFTER_S,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.store = ReadingStore(f"scale {port}", stale_after=stale_after)
        self._splitter = LineSplitter()
        self._reconnect_interval = reconnect_interval
        self._stop = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self.connected = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._run, name=f"scale:{port}", daemon=True)
        self._thread.start()

    def latest(self) -> Weight | None:
        return self.store.latest()

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._thread.join(timeout=5 * POLL_INTERVAL_S)

    def _run(self) -> None:
        quiet = False
        while not self._stop.is_set():
            try:
                port = serial.Serial(self.port, self.baudrate, timeout=POLL_INTERVAL_S)
            except (OSError, ValueError) as exc:
                (log.debug if quiet else log.warning)("scale %s: cannot open: %s", self.port, exc)
                quiet = True
                self._stop.wait(self._reconnect_interval)
                continue
            quiet = False
            self.connections += 1
            self.connected.set()
            log.info("scale %s: open at %d baud", self.port, self.baudrate)
            try:
                self._read(port)
            finally:
                self.connected.clear()
                self._splitter.reset()
                port.close()

    def _read(self, port: serial.Serial) -> None:
        while not self._stop.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except OSError as exc:  # SerialException is an OSError
                log.warning("scale %s: lost the port (%s); reopening", self.port, exc)
                self._stop.wait(self._reconnect_interval)
                return
            for line in self._splitter.feed(data):
                self.store.feed_line(line)
