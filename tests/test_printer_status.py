"""Status reply bytes -> PrinterStatus, bit by bit, for ESC/POS DLE EOT and TSPL <ESC>!?."""

from __future__ import annotations

import pytest

from drivers.printer.base import PrinterFault, PrinterStatus
from drivers.printer.sim.device import SimulatedPrinter
from drivers.printer.status import parse_escpos_status, parse_tspl_status, tspl_printing

OK = 0x12  # every DLE EOT reply has bits 1 and 4 set


@pytest.mark.parametrize(
    ("replies", "fault", "paper_low"),
    [
        ((OK, None, None, OK), None, False),
        ((OK, None, None, OK | 0x0C), None, True),  # n=4 bits 2-3: near end
        ((OK | 0x08, None, None, OK), PrinterFault.OFFLINE, False),  # offline, no cause
        ((OK | 0x08, OK | 0x04, OK, OK), PrinterFault.COVER_OPEN, False),  # n=2 bit 2
        ((OK | 0x08, OK | 0x20, OK, OK | 0x60), PrinterFault.PAPER_OUT, False),  # n=2 bit 5
        ((OK, None, None, OK | 0x60), PrinterFault.PAPER_OUT, False),  # n=4 bits 5-6 alone
        ((OK | 0x08, OK | 0x40, OK, OK), PrinterFault.ERROR, False),  # n=2 bit 6
        ((OK | 0x08, OK, OK | 0x08, OK), PrinterFault.ERROR, False),  # n=3 bit 3 cutter
        ((OK | 0x08, OK, OK | 0x20, OK), PrinterFault.ERROR, False),  # n=3 bit 5
        ((OK | 0x08, OK, OK | 0x40, OK), PrinterFault.ERROR, False),  # n=3 bit 6 overheat
        ((None, None, None, None), PrinterFault.OFFLINE, False),  # no answer at all
        ((0xFF, None, None, OK), PrinterFault.ERROR, False),  # not a DLE EOT reply
    ],
)
def test_escpos_status_bits(replies, fault, paper_low):
    status = parse_escpos_status(*replies)
    assert status.fault == fault
    assert status.paper_low == paper_low
    assert status.known


@pytest.mark.parametrize(
    ("byte", "fault"),
    [
        (0x00, None),
        (0x01, PrinterFault.COVER_OPEN),  # head opened
        (0x02, PrinterFault.ERROR),  # paper jam
        (0x03, PrinterFault.COVER_OPEN),  # jam + head open: the open head is reported first
        (0x04, PrinterFault.PAPER_OUT),
        (0x05, PrinterFault.PAPER_OUT),  # paper out + head open
        (0x08, PrinterFault.ERROR),  # ribbon out
        (0x10, PrinterFault.OFFLINE),  # pause
        (0x20, None),  # printing: busy, not a fault
        (0x80, PrinterFault.ERROR),  # other error
        (None, PrinterFault.OFFLINE),  # no answer
    ],
)
def test_tspl_status_bits(byte, fault):
    assert parse_tspl_status(byte).fault == fault


def test_tspl_printing_bit():
    assert tspl_printing(0x20) and tspl_printing(0x24)
    assert not tspl_printing(0x00) and not tspl_printing(None)


def test_simulator_answers_like_an_escpos_printer():
    dev = SimulatedPrinter("escpos-80-native")
    assert [dev.receive(b"\x10\x04" + bytes((n,))) for n in (1, 2, 3, 4)] == [b"\x12"] * 4
    dev.open_cover()
    assert dev.receive(b"\x10\x04\x01\x10\x04\x02") == b"\x1a\x16"
    dev.close_cover()
    dev.load_paper(0)
    assert dev.receive(b"\x10\x04\x02\x10\x04\x04") == b"\x32\x72"
    dev.load_paper(None)
    dev.set_paper_low()
    assert dev.receive(b"\x10\x04\x04") == b"\x1e"
    dev.go_offline()
    assert dev.receive(b"\x10\x04\x01") == b""


def test_simulator_answers_like_a_tspl_printer():
    dev = SimulatedPrinter("tspl-60x40")
    assert dev.receive(b"\x1b!?") == b"\x00"
    dev.open_cover()
    assert dev.receive(b"\x1b!?") == b"\x01"
    dev.close_cover()
    dev.load_paper(0)
    assert dev.receive(b"\x1b!?") == b"\x04"


def test_unknown_status_is_not_a_fault():
    assert PrinterStatus(known=False).fault is None
