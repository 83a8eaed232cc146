"""A scanner in serial mode (USB CDC ACM or a UART): ASCII codes ended by CR, LF or CR LF.

Prefer the ``/dev/serial/by-id/usb-...`` link over ``/dev/ttyACM0``: the link follows
the scanner across replugs, and the reader reopens it after the device vanishes.
"""

from __future__ import annotations

import logging
import time

import serial

from drivers.scanner.burst import DEFAULT_RULES, BurstRules
from drivers.scanner.lines import LineDecoder
from drivers.scanner.listener import RECONNECT_INTERVAL_S, ReaderScanner

log = logging.getLogger(__name__)


class SerialConnection:
    """One open port feeding the scanner's line decoder."""

    def __init__(self, port: serial.Serial, decoder: LineDecoder) -> None:
        self._port = port
        self._decoder = decoder

    def pump(self, timeout: float) -> list[str]:
        self._port.timeout = timeout
        data = self._port.read(max(1, self._port.in_waiting))
        now = time.monotonic()
        codes = self._decoder.feed(data, now) if data else []
        self._decoder.expire(now)
        return codes

    def close(self) -> None:
        self._decoder.reset("port closed")
        self._port.close()


class SerialScanner(ReaderScanner):
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        rules: BurstRules = DEFAULT_RULES,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.decoder = LineDecoder(rules, source=f"serial scanner {port}")
        super().__init__(
            f"serial scanner {port}", self._connect_port, reconnect_interval=reconnect_interval
        )

    def _connect_port(self) -> SerialConnection:
        # exclusive: a second program reading the same scanner would steal half the codes
        port = serial.Serial(self.port, self.baudrate, timeout=0, exclusive=True)
        return SerialConnection(port, self.decoder)
