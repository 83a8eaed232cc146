"""The ``LabelPrinter`` contract, run against every backend that can run here.

As gpiozero runs one suite against every pin factory, each test below runs over
tests/support/printer_rigs.py's backends (simulated link, serial pty, TCP 9100,
device file, USB stand-in) in both printer languages (ESC/POS and TSPL). What the
seam promises (drivers/printer/base.py): ``status()`` never raises and reports a
silent printer offline; ``print_label`` returns only once every copy is confirmed
and otherwise raises ``PrinterError`` with the fault and ``copies_done``; a write-only
link has unknown status and confirms a copy by its write; ``close()`` is idempotent.
"""

from __future__ import annotations

import logging

import pytest
import zxingcpp
from support.printer_decode import certificate_like_document, with_quiet_zone
from support.printer_rigs import (
    BACKENDS,
    PROFILES,
    READABLE,
    WRITE_ONLY,
    PrinterRig,
    absent_printer,
    printer_rig,
)

from drivers.printer import (
    PrinterError,
    PrinterFault,
    PrinterStatus,
    TransportError,
    open_label_printer,
)
from drivers.printer.escpos_commands import CUT_PARTIAL
from drivers.printer.profiles import get_profile

#: What crosses the wire when a printer is asked for its status before a job and a
#: fault stops it there: the status queries, and not one byte of the label.
STATUS_QUERIES = {
    "escpos": b"\x10\x04\x01\x10\x04\x04\x10\x04\x02\x10\x04\x03",  # DLE EOT 1, 4, 2, 3
    "tspl": b"\x1b!?",
}


def _rig(request: pytest.FixtureRequest, backends: tuple[str, ...]):
    backend, profile = request.param
    assert backend in backends
    return printer_rig(backend, profile)


@pytest.fixture(params=[(b, p) for b in BACKENDS for p in PROFILES], ids="-".join)
def rig(request):
    with _rig(request, BACKENDS) as r:
        yield r


@pytest.fixture(params=[(b, p) for b in READABLE for p in PROFILES], ids="-".join)
def readable_rig(request):
    """Backends whose link brings status back: the fault half of the contract."""
    with _rig(request, READABLE) as r:
        yield r


@pytest.fixture(params=[(b, p) for b in WRITE_ONLY for p in PROFILES], ids="-".join)
def write_only_rig(request):
    with _rig(request, WRITE_ONLY) as r:
        yield r


def doc(rig: PrinterRig):
    profile = rig.device.profile
    return certificate_like_document(profile.width, profile.height or 320)


def qr_texts(image) -> list[str]:
    found = zxingcpp.read_barcodes(with_quiet_zone(image), formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in found]


# ---- every backend ----------------------------------------------------------------------
def test_status_is_a_printer_status_and_a_ready_printer_has_no_fault(rig: PrinterRig) -> None:
    status = rig.printer.status()
    assert isinstance(status, PrinterStatus)
    assert status.fault is None and status.ready
    assert status.known is rig.readable  # a write-only link cannot be asked


def test_every_copy_prints_scannable_and_is_reported(rig: PrinterRig) -> None:
    document = doc(rig)
    seen: list[tuple[int, int]] = []
    rig.printer.print_label(document, copies=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    rig.settle()
    assert rig.device.label_count == 2
    assert qr_texts(rig.device.labels[1].image) == [document.qr_codes()[0].data]


def test_fewer_than_one_copy_is_a_value_error(rig: PrinterRig) -> None:
    with pytest.raises(ValueError, match="copies"):
        rig.printer.print_label(doc(rig), copies=0)
    assert rig.device.label_count == 0


def test_close_is_idempotent_and_a_closed_printer_refuses_jobs(rig: PrinterRig) -> None:
    rig.printer.close()
    rig.printer.close()
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig))
    assert info.value.fault is PrinterFault.OFFLINE and info.value.copies_done == 0
    status = rig.printer.status()  # still never raises
    assert status.fault is (PrinterFault.OFFLINE if rig.readable else None)
    assert rig.device.label_count == 0


def test_paper_low_is_a_warning_never_a_refusal(rig: PrinterRig, caplog) -> None:
    rig.device.set_paper_low()
    with caplog.at_level(logging.WARNING):
        rig.printer.print_label(doc(rig))
    rig.settle()
    assert rig.device.label_count == 1
    # ESC/POS reports a near-end sensor; TSPL's status byte has no such bit.
    reports_it = rig.readable and rig.device.profile.language == "escpos"
    assert rig.printer.status().paper_low is reports_it
    assert ("paper low" in caplog.text) is reports_it


# ---- backends that read status back -----------------------------------------------------
def test_paper_running_out_mid_job_stops_with_the_copies_done(readable_rig: PrinterRig) -> None:
    rig = readable_rig
    rig.device.run_out_of_paper_after(1)
    done: list[int] = []
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig), copies=3, progress=lambda d, t: done.append(d))
    assert info.value.fault is PrinterFault.PAPER_OUT and info.value.copies_done == 1
    assert done == [1] and rig.device.label_count == 1
    assert rig.printer.status().paper_out


def test_an_open_cover_refuses_the_job_before_any_label_byte(readable_rig: PrinterRig) -> None:
    rig = readable_rig
    rig.device.open_cover()
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig))
    assert info.value.fault is PrinterFault.COVER_OPEN and info.value.copies_done == 0
    assert bytes(rig.device.received) == STATUS_QUERIES[rig.device.profile.language]
    rig.device.close_cover()  # and once it is shut, the printer prints again
    rig.printer.print_label(doc(rig))
    assert rig.device.label_count == 1


def test_a_cover_opened_mid_job_leaves_that_copy_unconfirmed(readable_rig: PrinterRig) -> None:
    rig = readable_rig
    rig.device.open_cover(after_labels=1)
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig), copies=3)
    assert info.value.fault is PrinterFault.COVER_OPEN
    # copy 1 printed, but the cover was open when it was checked: not confirmed
    assert info.value.copies_done == 0 and rig.device.label_count == 1


def test_a_silent_printer_is_offline_and_gets_no_job(readable_rig: PrinterRig) -> None:
    rig = readable_rig
    rig.device.go_offline()
    assert rig.printer.status().fault is PrinterFault.OFFLINE
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig))
    assert info.value.fault is PrinterFault.OFFLINE and info.value.copies_done == 0
    assert rig.device.label_count == 0


def test_a_printer_going_silent_mid_job_counts_only_confirmed_copies(
    readable_rig: PrinterRig,
) -> None:
    rig = readable_rig
    rig.device.go_offline(after_labels=2)
    with pytest.raises(PrinterError) as info:
        rig.printer.print_label(doc(rig), copies=4)
    assert info.value.fault is PrinterFault.OFFLINE
    assert info.value.copies_done == 1  # copy 2 printed but the printer never confirmed it
    assert rig.device.label_count == 2


# ---- write-only links -------------------------------------------------------------------
def test_a_write_only_link_confirms_copies_by_their_write(write_only_rig: PrinterRig) -> None:
    rig = write_only_rig
    language = rig.device.profile.language
    rig.device.open_cover()  # the printer cannot tell us, so the driver cannot know
    rig.printer.print_label(doc(rig), copies=2)
    rig.settle()
    assert rig.device.received.count(b"PRINT 1" if language == "tspl" else CUT_PARTIAL) == 2
    assert rig.printer.status().known is False
    assert rig.device.label_count == 0  # what a write-only link costs: lost labels
    assert STATUS_QUERIES[language] not in rig.device.received  # never asked


# ---- opening --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "simulated"])
def test_a_printer_that_is_not_there_is_a_transport_error_naming_it(backend, tmp_path) -> None:
    settings, names = absent_printer(backend, tmp_path)
    with pytest.raises(TransportError, match=names):
        open_label_printer(PROFILES[0], settings)


def test_the_rig_profiles_cover_both_languages() -> None:
    assert {get_profile(p).language for p in PROFILES} == {"escpos", "tspl"}
