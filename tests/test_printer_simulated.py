"""Jobs through the real encoders, status queries and the simulated device, faults included."""

from __future__ import annotations

import logging

import pytest
import zxingcpp
from support.printer_decode import certificate_like_document, with_quiet_zone

from drivers.printer import (
    PrinterError,
    PrinterFault,
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


@pytest.mark.parametrize("profile", ["escpos-80-native", "tspl-60x40", "tspl-60x40-raster"])
def test_paper_runs_out_mid_job(profile):
    dev = SimulatedPrinter(profile)
    dev.run_out_of_paper_after(2)
    done = []
    with _open(profile, dev) as printer, pytest.raises(PrinterError) as info:
        printer.print_label(_doc(profile), copies=5, progress=lambda d, t: done.append(d))
    assert info.value.fault is PrinterFault.PAPER_OUT
    assert info.value.copies_done == 2
    assert done == [1, 2]
    assert dev.label_count == 2


def test_offline_at_start_sends_nothing():
    dev = SimulatedPrinter("escpos-80-native")
    dev.go_offline()
    with _open("escpos-80-native", dev) as printer:
        assert printer.status().fault is PrinterFault.OFFLINE
        with pytest.raises(PrinterError) as info:
            printer.print_label(_doc("escpos-80-native"))
    assert info.value.fault is PrinterFault.OFFLINE and info.value.copies_done == 0
    assert dev.label_count == 0


@pytest.mark.parametrize("profile", ["escpos-58-native", "tspl-60x40"])
def test_cover_open_before_the_job(profile):
    dev = SimulatedPrinter(profile)
    dev.open_cover()
    with _open(profile, dev) as printer, pytest.raises(PrinterError) as info:
        printer.print_label(_doc(profile))
    assert info.value.fault is PrinterFault.COVER_OPEN and info.value.copies_done == 0
    assert dev.received in (b"\x10\x04\x01\x10\x04\x04\x10\x04\x02\x10\x04\x03", b"\x1b!?")


def test_cover_opened_mid_job():
    dev = SimulatedPrinter("escpos-80-raster")
    dev.open_cover(after_labels=1)
    with _open("escpos-80-raster", dev) as printer, pytest.raises(PrinterError) as info:
        printer.print_label(_doc("escpos-80-raster"), copies=3)
    assert info.value.fault is PrinterFault.COVER_OPEN
    # copy 1 printed, but the cover was open when it was checked: not confirmed
    assert info.value.copies_done == 0 and dev.label_count == 1


def test_goes_offline_mid_job():
    dev = SimulatedPrinter("tspl-60x40")
    dev.go_offline(after_labels=2)
    with _open("tspl-60x40", dev) as printer, pytest.raises(PrinterError) as info:
        printer.print_label(_doc("tspl-60x40"), copies=4)
    assert info.value.fault is PrinterFault.OFFLINE
    assert info.value.copies_done == 1  # copy 2 printed but the printer never confirmed it
    assert dev.label_count == 2


def test_paper_low_is_a_warning_not_a_fault(caplog):
    dev = SimulatedPrinter("escpos-80-native")
    dev.set_paper_low()
    with caplog.at_level(logging.WARNING), _open("escpos-80-native", dev) as printer:
        assert printer.status().paper_low
        printer.print_label(_doc("escpos-80-native"))
    assert dev.label_count == 1
    assert "paper low" in caplog.text


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


def test_file_transport_status_unknown_job_confirmed_by_write(tmp_path):
    target = tmp_path / "lp0"
    target.touch()
    settings = TransportSettings(kind="file", device_file=str(target))
    with open_label_printer("tspl-60x40", settings) as printer:
        assert printer.status().known is False
        printer.print_label(_doc("tspl-60x40"), copies=2)
    data = target.read_bytes()
    assert data.count(b"PRINT 1\r\n") == 2 and b"\x1b!?" not in data


def test_close_is_idempotent():
    printer = _open("escpos-58-raster")
    printer.close()
    printer.close()
    with pytest.raises(PrinterError):
        printer.print_label(_doc("escpos-58-raster"))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(UnknownProfileError) as info:
        open_label_printer("zebra-zpl", SIM)
    message = str(info.value)
    assert "zebra-zpl" in message
    for name in ("escpos-80-raster", "escpos-58-native", "tspl-60x40", "tspl-60x40-raster"):
        assert name in message
