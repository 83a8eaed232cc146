"""Every ``LabelPrinter`` backend that can run here, each with the bench's hands on it.

A rig is the printer under test (opened the way the kiosk opens it) and, at the far
end of its link, a ``SimulatedPrinter`` that reads the real byte stream and answers
status queries as the hardware does. Backends:

- ``simulated``: the kiosk in simulation, an in-process link (``SimulatedLabelPrinter``).
- ``serial-pty``: pyserial on a real pty that a ``PtyPrinterServer`` serves.
- ``tcp-9100``: python-escpos ``Network`` to a ``TcpPrinterServer`` on 127.0.0.1.
- ``device-file``: python-escpos ``File`` writing to a character device (a pty slave,
  as ``/dev/usb/lp0`` is one); write-only, so status is unknown.
- ``usb``: ``UsbTransport`` over ``UsbPrinterStandIn``, a ``usb.core.Device``
  stand-in, because pyusb cannot reach a USB device here (no USB bus, no gadget
  driver); it behaves like a printer's bulk endpoints (partial writes, a read with
  nothing pending times out, interfaces claimed through ``_ctx``).
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import usb.core

from drivers.fonts import find_cjk_font
from drivers.printer import LabelPrinter, TransportSettings, open_label_printer
from drivers.printer.factory import make_encoder
from drivers.printer.printer import TransportPrinter
from drivers.printer.profiles import get_profile
from drivers.printer.sim import (
    PtyPrinterServer,
    SimulatedPrinter,
    TcpPrinterServer,
    open_simulated_printer,
)
from drivers.printer.transports.usb import UsbTransport

BACKENDS = ("simulated", "serial-pty", "tcp-9100", "device-file", "usb")
#: Backends whose link carries the printer's status replies back.
READABLE = tuple(b for b in BACKENDS if b != "device-file")
WRITE_ONLY = ("device-file",)
#: One profile per printer language, both with native text and QR.
PROFILES = ("escpos-58-native", "tspl-60x40")
#: Status timeout of the rigs: a silent printer costs this per query.
TIMEOUT_S = 0.3


@dataclass
class PrinterRig:
    backend: str
    printer: LabelPrinter
    device: SimulatedPrinter  # the far end: faults are set and labels read back here
    server: PtyPrinterServer | None = None

    @property
    def readable(self) -> bool:
        return self.backend in READABLE

    def settle(self) -> None:
        """Wait until the far end has taken in everything written.

        A readable link already has: a copy is confirmed by a status reply the printer
        sends after reading it. A write-only link returns once the kernel has the
        bytes, so the printer may still be reading them.
        """
        if self.server is not None and not self.readable:
            assert self.server.wait_drained(), "the printer did not read what was written"


class FakeContext:
    """Stands in for pyusb's _ResourceManager: claim/release/dispose bookkeeping."""

    def __init__(self) -> None:
        self.claimed: set[int] = set()
        self.disposed = False

    def managed_claim_interface(self, device, interface) -> None:
        self.claimed.add(interface)

    def managed_release_interface(self, device, interface) -> None:
        self.claimed.discard(interface)

    def dispose(self, device, close_handle=True) -> None:
        self.disposed = True


class UsbPrinterStandIn:
    """A usb.core.Device-like printer whose bulk endpoints feed a SimulatedPrinter."""

    def __init__(self, device: SimulatedPrinter, out_ep: int, in_ep: int, *, eacces=False):
        self.sim, self.out_ep, self.in_ep = device, out_ep, in_ep
        self._ctx = FakeContext()
        self.kernel_driver = True
        self.eacces = eacces
        self.pending = bytearray()
        self.writes: list[tuple[int, int]] = []

    def is_kernel_driver_active(self, interface: int) -> bool:
        return self.kernel_driver

    def detach_kernel_driver(self, interface: int) -> None:
        self.kernel_driver = False

    def set_configuration(self) -> None:
        if self.eacces:
            raise usb.core.USBError("Access denied (insufficient permissions)", -3, errno.EACCES)

    def write(self, endpoint: int, data, timeout=None) -> int:
        if endpoint != self.out_ep:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        chunk = bytes(data[:4096])  # like a bulk transfer that sends part of a big buffer
        self.writes.append((endpoint, len(chunk)))
        self.pending += self.sim.receive(chunk)
        return len(chunk)

    def read(self, endpoint: int, size: int, timeout=None):
        if endpoint != self.in_ep:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        if not self.pending:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out


def usb_printer(profile: str, device: SimulatedPrinter) -> TransportPrinter:
    """The kiosk's USB printer (interface 0, in 0x81, out 0x03) on the stand-in."""
    stand_in = UsbPrinterStandIn(device, out_ep=0x03, in_ep=0x81)
    transport = UsbTransport(0x0483, 0x5743, timeout_s=TIMEOUT_S, find=lambda **ids: stand_in)
    transport.open()
    prof = get_profile(profile)
    return TransportPrinter(
        prof, transport, make_encoder(prof, find_cjk_font()), status_timeout_s=TIMEOUT_S
    )


@contextmanager
def printer_rig(backend: str, profile: str) -> Iterator[PrinterRig]:
    """The printer of ``profile`` over ``backend``, closed (and its server stopped) after."""
    device = SimulatedPrinter(profile)
    if backend == "simulated":
        with open_simulated_printer(profile, device, status_timeout_s=TIMEOUT_S) as printer:
            yield PrinterRig(backend, printer, device)
    elif backend in ("serial-pty", "device-file"):
        with PtyPrinterServer(device) as server:
            if backend == "serial-pty":
                settings = TransportSettings(
                    kind="serial", serial_port=server.path, baudrate=115200, timeout_s=TIMEOUT_S
                )
            else:
                settings = TransportSettings(kind="file", device_file=server.path)
            with open_label_printer(profile, settings) as printer:
                yield PrinterRig(backend, printer, device, server)
    elif backend == "tcp-9100":
        with TcpPrinterServer(device) as server:
            settings = TransportSettings(
                kind="network", host=server.host, port=server.port, timeout_s=TIMEOUT_S
            )
            with open_label_printer(profile, settings) as printer:
                yield PrinterRig(backend, printer, device)
    elif backend == "usb":
        with usb_printer(profile, device) as printer:
            yield PrinterRig(backend, printer, device)
    else:
        raise ValueError(f"no printer backend {backend!r}")


def absent_printer(backend: str, tmp_path: Path) -> tuple[TransportSettings, str]:
    """Settings of a printer that is not there, and a regex of what the error must name."""
    if backend == "serial-pty":
        port = str(tmp_path / "ttyUSB-nope")
        return TransportSettings(kind="serial", serial_port=port), re.escape(port)
    if backend == "tcp-9100":
        with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return TransportSettings(kind="network", host="127.0.0.1", port=port), f":{port}"
    if backend == "device-file":
        path = str(tmp_path / "no-such-dir" / "lp0")
        return TransportSettings(kind="file", device_file=path), re.escape(path)
    if backend == "usb":
        # The real pyusb lookup: here it finds no libusb or no such device.
        settings = TransportSettings(kind="usb", usb_vendor="0x0483", usb_product="0x5743")
        return settings, "0483:5743|libusb"
    raise ValueError(f"backend {backend!r} cannot be absent")
