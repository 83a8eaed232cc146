"""The ``BarcodeScanner`` contract, run against every scanner backend that can run here.

Each test runs over tests/support/scanner_rigs.py's backends (simulated wedge, serial
over a real pty, evdev's decoder path on key events). What the seam promises
(drivers/scanner/__init__.py): after ``start(on_scan)`` every scan arrives whole,
once, verbatim; garbage and codes that lost their terminator never arrive, not even
glued to the next code; scans before ``start`` are dropped with a log line; a
listener that raises or closes the scanner cannot stop or deadlock it; an unplugged
scanner comes back by itself; ``close()`` is idempotent and ``start`` after it raises
RuntimeError.
"""

from __future__ import annotations

import logging
import queue
import threading

import pytest
from support.scanner_rigs import BACKENDS, ScannerRig, scanner_rig

from drivers.scanner import BarcodeScanner

URL = "HTTPS://QS.EXAMPLE/V?C=330102-2026-000123&S=Ab+/="


@pytest.fixture(params=BACKENDS)
def rig(request, tmp_path):
    with scanner_rig(request.param, tmp_path) as r:
        yield r


def collect(rig: ScannerRig) -> queue.Queue[str]:
    got: queue.Queue[str] = queue.Queue()
    rig.scanner.start(got.put)
    return got


def test_a_scan_arrives_whole_and_verbatim(rig: ScannerRig) -> None:
    assert isinstance(rig.scanner, BarcodeScanner)
    got = collect(rig)
    rig.scan(URL)
    assert got.get(timeout=3) == URL
    rig.scan("6901234567892")
    assert got.get(timeout=3) == "6901234567892"
    rig.settle()
    assert got.empty()  # once each


def test_a_code_that_lost_its_terminator_is_never_delivered(rig: ScannerRig, caplog) -> None:
    got = collect(rig)
    with caplog.at_level(logging.WARNING):
        rig.scan("LOST-ENTER", terminate=False)
        rig.scan("GOOD-1")
        assert got.get(timeout=3) == "GOOD-1"  # alone, not glued to the lost one
        rig.settle()
    assert got.empty()
    assert "no terminator" in caplog.text


def test_scans_before_start_are_dropped_with_a_log_line(rig: ScannerRig, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        rig.scan("EARLY")
        rig.settle()
    assert "nobody listening" in caplog.text
    assert rig.scanner.dispatcher.undelivered == 1
    got = collect(rig)
    rig.scan("LATER")
    assert got.get(timeout=3) == "LATER"


def test_a_raising_listener_does_not_stop_the_scanner(rig: ScannerRig, caplog) -> None:
    seen: list[str] = []

    def listener(code: str) -> None:
        seen.append(code)
        if code == "BOOM":
            raise RuntimeError("listener bug")

    rig.scanner.start(listener)
    with caplog.at_level(logging.ERROR):
        rig.scan("BOOM")
        rig.scan("AFTER")
        rig.settle()
    assert seen == ["BOOM", "AFTER"]
    assert "listener raised" in caplog.text


def test_an_unplugged_scanner_comes_back_by_itself(rig: ScannerRig) -> None:
    got = collect(rig)
    rig.scan("ONE")
    assert got.get(timeout=3) == "ONE"
    rig.scan("HALF-", terminate=False)  # unplugged mid-code...
    rig.unplug()
    rig.replug()
    rig.scan("AGAIN")
    assert got.get(timeout=3) == "AGAIN"  # ...and the half code is not glued on
    rig.settle()
    assert got.empty()
    assert rig.scanner.connections == 2


def test_close_is_idempotent_and_start_after_close_raises(rig: ScannerRig) -> None:
    rig.scanner.close()
    rig.scanner.close()
    with pytest.raises(RuntimeError):
        rig.scanner.start(print)


def test_closing_from_inside_the_listener_does_not_deadlock(rig: ScannerRig) -> None:
    done = threading.Event()

    def listener(code: str) -> None:
        rig.scanner.close()
        done.set()

    rig.scanner.start(listener)
    rig.scan("X")
    assert done.wait(3)
