"""Network (TCP 9100) and device-file transports on python-escpos's own connections.

Its ``Network`` and ``File`` classes fit as they are: we use their ``open``, ``_raw``,
``_read`` and ``close`` and only bound the read time. TSPL bytes go through them too:
they are plain byte pipes.
"""

from __future__ import annotations

import logging
import socket

from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network

from drivers.printer.transports.base import Transport, TransportError

log = logging.getLogger(__name__)


class NetworkTransport(Transport):
    def __init__(self, host: str, port: int = 9100, *, timeout_s: float = 2.0) -> None:
        self._conn = Network(host=host, port=port, timeout=timeout_s)
        self._open = False
        self.description = f"tcp {host}:{port}"

    def open(self) -> None:
        if self._open:
            return
        try:
            self._conn.open()
        except DeviceNotFoundError as exc:
            raise TransportError(f"cannot connect to printer at {self.description}: {exc}") from exc
        self._open = True

    def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportError(f"{self.description} is not open")
        try:
            self._conn._raw(data)
        except OSError as exc:
            raise TransportError(f"{self.description}: send failed: {exc}") from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        if not self._open:
            raise TransportError(f"{self.description} is not open")
        sock: socket.socket = self._conn.device
        previous = sock.gettimeout()
        sock.settimeout(timeout_s if timeout_s > 0 else 0.0)
        try:
            return self._conn._read()[:size]
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise TransportError(f"{self.description}: receive failed: {exc}") from exc
        finally:
            sock.settimeout(previous)

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._conn.close()
            except OSError as exc:  # the flush of a failed write: already reported
                log.warning("%s: close failed: %s", self.description, exc)


class FileTransport(Transport):
    """``/dev/usb/lp0`` and the like: write-only, so status is unknown."""

    can_read = False

    def __init__(self, path: str) -> None:
        self._conn = File(devfile=path, auto_flush=True)
        self._open = False
        self.description = f"file {path}"

    def open(self) -> None:
        if self._open:
            return
        try:
            self._conn.open()
        except DeviceNotFoundError as exc:
            raise TransportError(
                f"cannot open {self.description}: {exc} (is the kiosk user in group lp?)"
            ) from exc
        self._open = True

    def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportError(f"{self.description} is not open")
        try:
            self._conn._raw(data)
        except OSError as exc:
            raise TransportError(f"{self.description}: write failed: {exc}") from exc

    def read(self, size: int, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._conn.close()
            except OSError as exc:  # the flush of a failed write: already reported
                log.warning("%s: close failed: %s", self.description, exc)
