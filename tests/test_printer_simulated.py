"""Every profile through the real encoders into the simulated device, and what only the
simulator or one language shows (TSPL's printing bit, wire time, unknown profiles).
Faults, status and closing on every link are the LabelPrinter contract
(tests/test_contract_printer.py)."""

from __future__ import annotations

import pytest
import zxingcpp
from support.printer_decode import certificate_like_document, with_quiet_zone

from drivers.printer import (
    TransportSettings,
    UnknownProfileError,
    open_label_printer,
)
from drivers.printer.profiles import PROFILES, get_profile
from drivers.printer.sim import SimulatedPrinter, open_simulated_printer

SIM = TransportSettings(kind="simulated")


def _doc(profile: str):
    p = get_profile(profile)
    return certificate_like_document(p.width, p.height or 320)


def _open(profile: str, device: SimulatedPrinter | None = None):
    return open_simulated_printer(profile, device)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_prints_a_scannable_label(profile):
    doc = _doc(profile)
    seen = []
    with _open(profile) as printer:
        printer.print_label(doc, copies=2, progress=lambda d, t: seen.append((d, t)))
        dev = printer.simulated_device
    assert seen == [(1, 2), (2, 2)]
    assert dev.label_count == 2
    for label in dev.labels:
        found = zxingcpp.read_barcodes(
            with_quiet_zone(label.image), formats=zxingcpp.BarcodeFormat.QRCode
        )
        assert [r.text for r in found] == [doc.qr_codes()[0].data]
    label = dev.labels[0]
    if get_profile(profile).native_text:
        assert "品名：大白菜" in label.texts
        assert label.qr_data == [doc.qr_codes()[0].data]
    else:
        assert label.texts == [] and label.rasters >= 1


def test_native_label_looks_like_the_preview():
    """The simulator draws native text with the CJK font on the printer's cells."""
    doc = _doc("tspl-60x40")
    with _open("tspl-60x40") as printer:
        printer.print_label(doc)
        image = printer.simulated_device.label_images()[0]
    assert image.size == (480, 320)
    # the title region has ink, the gap right of the fields has none
    assert image.crop((8, 4, 200, 36)).getbbox() is not None
    assert image.convert("L").crop((230, 100, 280, 200)).getextrema() == (255, 255)


def test_tspl_waits_while_the_printer_reports_printing():
    dev = SimulatedPrinter("tspl-60x40", print_time_s=0.15)
    with _open("tspl-60x40", dev) as printer:
        printer.print_label(_doc("tspl-60x40"), copies=2)
    queries = dev.received.count(b"\x1b!?")
    assert queries >= 4  # polled the printing bit more than once per copy
    assert dev.received.count(b"PRINT 1") == 2 and dev.received.count(b"CLS") == 1


def test_wire_time_at_9600_baud():
    dev = SimulatedPrinter("tspl-60x40-raster", baudrate=9600)
    with _open("tspl-60x40-raster", dev) as printer:
        printer.print_label(_doc("tspl-60x40-raster"))
    assert dev.wire_time_s == pytest.approx(len(dev.received) * 10 / 9600)
    assert dev.wire_time_s > 19  # a full 60x40 raster takes tens of seconds at 9600


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(UnknownProfileError) as info:
        open_label_printer("zebra-zpl", SIM)
    message = str(info.value)
    assert "zebra-zpl" in message
    for name in ("escpos-80-raster", "escpos-58-native", "tspl-60x40", "tspl-60x40-raster"):
        assert name in message
