"""USB transport details beyond the LabelPrinter contract (tests/test_contract_printer.py).

pyusb cannot reach a USB device here, so endpoint handling uses
``support.printer_rigs.UsbPrinterStandIn``, a ``usb.core.Device`` stand-in that behaves
like one (write returns the byte count, an empty read raises ``USBTimeoutError``,
interfaces are claimed through ``_ctx``), and the error paths use pyusb's own lookup.
The serial, TCP and device-file links are covered by the contract suite.
"""

from __future__ import annotations

import pytest
from support.printer_decode import certificate_like_document
from support.printer_rigs import UsbPrinterStandIn

from drivers.printer import TransportSettings
from drivers.printer.sim import SimulatedPrinter
from drivers.printer.transports import TransportError, make_transport
from drivers.printer.transports.usb import UsbTransport


def test_usb_endpoints_are_the_configured_ones():
    sim = SimulatedPrinter("escpos-80-raster")
    fake = UsbPrinterStandIn(sim, out_ep=0x02, in_ep=0x81)
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
    fake = UsbPrinterStandIn(SimulatedPrinter("escpos-58-raster"), out_ep=0x03, in_ep=0x81)
    transport = UsbTransport(1, 2, out_endpoint=0x02, find=lambda **ids: fake)
    transport.open()
    with pytest.raises(TransportError, match="write failed"):
        transport.write(b"\x1b@")
    transport.close()


def test_usb_read_timeout_is_an_empty_answer():
    fake = UsbPrinterStandIn(SimulatedPrinter("escpos-58-raster"), out_ep=0x03, in_ep=0x81)
    with UsbTransport(1, 2, find=lambda **ids: fake) as transport:
        assert transport.read(1, 0.01) == b""


def test_usb_permission_denied_names_the_udev_rule():
    fake = UsbPrinterStandIn(SimulatedPrinter("escpos-58-raster"), 0x03, 0x81, eacces=True)
    transport = UsbTransport(0x0483, 0x5743, find=lambda **ids: fake)
    with pytest.raises(TransportError) as info:
        transport.open()
    message = str(info.value)
    assert "udev" in message and 'ATTR{idVendor}=="0483"' in message
    assert 'ATTR{idProduct}=="5743"' in message


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


def test_make_transport_leaves_the_simulated_kind_to_the_simulator():
    with pytest.raises(ValueError, match="open_label_printer"):
        make_transport(TransportSettings(kind="simulated"))
