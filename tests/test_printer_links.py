"""The serial, network and USB transports, each against something real where possible.

Serial: a real pty (os.openpty) with the simulated printer reading the other end, so
pyserial opens /dev/pts/N exactly as it opens /dev/ttyUSB0 on the kiosk. Network: a
real TCP socket on 127.0.0.1. USB: pyusb cannot reach a device in CI, so the error
paths use pyusb's own lookup, and endpoint handling uses a fake ``usb.core.Device``
that behaves like one (write returns the byte count, an empty read raises
``USBTimeoutError``, interfaces are claimed through ``_ctx``).
"""

from __future__ import annotations

import errno
import re

import pytest
import usb.core
import zxingcpp
from support.printer_decode import certificate_like_document, with_quiet_zone

from drivers.printer import PrinterError, PrinterFault, TransportSettings, open_label_printer
from drivers.printer.sim import PtyPrinterServer, SimulatedPrinter, TcpPrinterServer
from drivers.printer.transports import TransportError, make_transport
from drivers.printer.transports.usb import UsbTransport


def _scan(image) -> list[str]:
    return [
        r.text
        for r in zxingcpp.read_barcodes(
            with_quiet_zone(image), formats=zxingcpp.BarcodeFormat.QRCode
        )
    ]


# ---- serial over a pty --------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["escpos-58-native", "tspl-60x40"])
def test_serial_over_a_pty(profile):
    dev = SimulatedPrinter(profile)
    doc = certificate_like_document(dev.profile.width, dev.profile.height or 320)
    with PtyPrinterServer(dev) as server:
        settings = TransportSettings(
            kind="serial", serial_port=server.path, baudrate=115200, timeout_s=1.0
        )
        with open_label_printer(profile, settings) as printer:
            assert printer.status().ready  # status replies crossed the pty
            printer.print_label(doc, copies=2)
    assert dev.label_count == 2
    assert _scan(dev.labels[1].image) == [doc.qr_codes()[0].data]


def test_serial_paper_out_reply_crosses_the_pty():
    dev = SimulatedPrinter("escpos-80-native")
    dev.run_out_of_paper_after(1)
    with PtyPrinterServer(dev) as server:
        settings = TransportSettings(kind="serial", serial_port=server.path, timeout_s=1.0)
        with open_label_printer("escpos-80-native", settings) as printer:
            with pytest.raises(PrinterError) as info:
                printer.print_label(certificate_like_document(576), copies=3)
            assert printer.status().paper_out
    assert info.value.fault is PrinterFault.PAPER_OUT and info.value.copies_done == 1


def test_serial_silent_printer_is_offline():
    dev = SimulatedPrinter("tspl-60x40")
    dev.go_offline()
    with PtyPrinterServer(dev) as server:
        settings = TransportSettings(kind="serial", serial_port=server.path, timeout_s=0.2)
        with open_label_printer("tspl-60x40", settings) as printer:
            assert printer.status().fault is PrinterFault.OFFLINE


def test_serial_missing_port_names_itself():
    settings = TransportSettings(kind="serial", serial_port="/dev/ttyNOPE9")
    with pytest.raises(TransportError, match="/dev/ttyNOPE9"):
        open_label_printer("escpos-58-raster", settings)


# ---- network ------------------------------------------------------------------------------
def test_network_printer_on_loopback():
    dev = SimulatedPrinter("tspl-60x40")
    doc = certificate_like_document()
    with TcpPrinterServer(dev) as server:
        settings = TransportSettings(kind="network", host=server.host, port=server.port)
        with open_label_printer("tspl-60x40", settings) as printer:
            printer.print_label(doc, copies=3)
            dev.open_cover()
            assert printer.status().fault is PrinterFault.COVER_OPEN
    assert dev.label_count == 3
    assert _scan(dev.labels[2].image) == [doc.qr_codes()[0].data]


def test_network_nothing_listening():
    settings = TransportSettings(kind="network", host="127.0.0.1", port=9, timeout_s=0.5)
    with pytest.raises(TransportError, match=re.escape("127.0.0.1:9")):
        open_label_printer("tspl-60x40", settings)


# ---- USB ----------------------------------------------------------------------------------
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


class FakeUsbPrinter:
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


def test_usb_endpoints_are_the_configured_ones():
    sim = SimulatedPrinter("escpos-80-raster")
    fake = FakeUsbPrinter(sim, out_ep=0x02, in_ep=0x81)
    transport = UsbTransport(
        0x0483, 0x5743, in_endpoint=0x81, out_endpoint=0x02, find=lambda **ids: fake
    )
    from drivers.fonts import find_cjk_font
    from drivers.printer.factory import make_encoder
    from drivers.printer.printer import TransportPrinter
    from drivers.printer.profiles import get_profile

    profile = get_profile("escpos-80-raster")
    transport.open()
    assert fake._ctx.claimed == {0} and not fake.kernel_driver
    printer = TransportPrinter(profile, transport, make_encoder(profile, find_cjk_font()))
    with printer:
        printer.print_label(certificate_like_document(576))
    assert sim.label_count == 1
    assert {ep for ep, _ in fake.writes} == {0x02}
    assert max(n for _, n in fake.writes) == 4096  # partial writes were continued
    assert fake._ctx.disposed and fake._ctx.claimed == set()
    transport.close()  # idempotent


def test_usb_wrong_out_endpoint_is_a_transport_error():
    fake = FakeUsbPrinter(SimulatedPrinter("escpos-58-raster"), out_ep=0x03, in_ep=0x81)
    transport = UsbTransport(1, 2, out_endpoint=0x02, find=lambda **ids: fake)
    transport.open()
    with pytest.raises(TransportError, match="write failed"):
        transport.write(b"\x1b@")
    transport.close()


def test_usb_read_timeout_is_an_empty_answer():
    fake = FakeUsbPrinter(SimulatedPrinter("escpos-58-raster"), out_ep=0x03, in_ep=0x81)
    with UsbTransport(1, 2, find=lambda **ids: fake) as transport:
        assert transport.read(1, 0.01) == b""


def test_usb_permission_denied_names_the_udev_rule():
    fake = FakeUsbPrinter(SimulatedPrinter("escpos-58-raster"), 0x03, 0x81, eacces=True)
    transport = UsbTransport(0x0483, 0x5743, find=lambda **ids: fake)
    with pytest.raises(TransportError) as info:
        transport.open()
    message = str(info.value)
    assert "udev" in message and 'ATTR{idVendor}=="0483"' in message
    assert 'ATTR{idProduct}=="5743"' in message


def test_usb_no_device_is_a_clear_error():
    """Real pyusb lookup: here there is no libusb or no such device; both must read well."""
    settings = TransportSettings(kind="usb", usb_vendor="0x0483", usb_product="0x5743")
    with pytest.raises(TransportError) as info:
        open_label_printer("escpos-80-raster", settings)
    assert "0483:5743" in str(info.value) or "libusb" in str(info.value)


def test_usb_not_found():
    transport = UsbTransport(0x0483, 0x5743, find=lambda **ids: None)
    with pytest.raises(TransportError, match="no USB printer 0483:5743 found"):
        transport.open()


def test_usb_settings_parse_hex_ids():
    settings = TransportSettings(
        kind="usb",
        usb_vendor="0483",
        usb_product="0x5743",
        usb_in_endpoint=0x82,
        usb_out_endpoint=0x01,
    )
    transport = make_transport(settings)
    assert isinstance(transport, UsbTransport)
    assert (transport.vendor, transport.product) == (0x0483, 0x5743)
    assert (transport.in_endpoint, transport.out_endpoint) == (0x82, 0x01)
    with pytest.raises(ValueError, match="usb_vendor"):
        _ = TransportSettings(kind="usb", usb_vendor="xyz").vendor_id
