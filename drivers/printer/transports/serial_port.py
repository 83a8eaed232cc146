"""Serial transport through pyserial.

python-escpos's ``Serial`` reads 16 bytes per call, so every one-byte status reply
waits out the whole timeout, and it cannot select RTS/CTS; hence this thin transport.
"""

from __future__ import annotations

import logging

import serial

from drivers.printer.transports.base import Transport, TransportError

log = logging.getLogger(__name__)


class SerialTransport(Transport):
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        flow_control: str = "none",
        timeout_s: float = 2.0,
    ) -> None:
        if flow_control not in ("none", "rtscts", "xonxoff", "dsrdtr"):
            raise ValueError(f"unknown flow control {flow_control!r}")
        self.port, self.baudrate, self.flow_control = port, baudrate, flow_control
        self.timeout_s = timeout_s
        self._serial: serial.Serial | None = None
        self.description = f"serial {port} @ {baudrate}"

    def open(self) -> None:
        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(
                self.port,
                self.baudrate,
                timeout=self.timeout_s,
                # A full raster at 9600 baud takes tens of seconds; never time out writes.
                write_timeout=None,
                rtscts=self.flow_control == "rtscts",
                xonxoff=self.flow_control == "xonxoff",
                dsrdtr=self.flow_control == "dsrdtr",
            )
        except serial.SerialException as exc:
            hint = " (is the kiosk user in group dialout?)" if "ermission" in str(exc) else ""
            raise TransportError(f"cannot open {self.description}: {exc}{hint}") from exc
        log.info("opened %s", self.description)

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise TransportError(f"{self.description} is not open")
        return self._serial

    def write(self, data: bytes) -> None:
        port = self._port()
        try:
            port.write(data)
            port.flush()
        except serial.SerialException as exc:
            raise TransportError(f"{self.description}: write failed: {exc}") from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        port = self._port()
        try:
            port.timeout = timeout_s
            first = port.read(1)
            if not first or size == 1:
                return first
            port.timeout = 0
            return first + port.read(min(size - 1, port.in_waiting))
        except serial.SerialException as exc:
            raise TransportError(f"{self.description}: read failed: {exc}") from exc

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            port.close()
