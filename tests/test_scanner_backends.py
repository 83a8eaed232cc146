"""What only one scanner backend shows: the simulated wedge's pace and faults, serial
byte handling and a port that appears late, evdev device lookup and grabbing.

Delivery, terminators, scans before start, raising listeners, unplug/replug and
closing run on every backend in tests/test_contract_scanner.py."""

from __future__ import annotations

import errno
import logging
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from support.pty import Pty

from drivers.scanner.burst import BurstRules
from drivers.scanner.evdev_scanner import find_device_path
from drivers.scanner.factory import open_barcode_scanner
from drivers.scanner.serial_scanner import SerialScanner
from drivers.scanner.sim.scanner import SimulatedScanner

FAST = 0.05  # reconnect interval for tests: replugs are noticed at once
RULES = BurstRules(interchar_timeout=0.1)


def collect(scanner: object) -> queue.Queue[str]:
    got: queue.Queue[str] = queue.Queue()
    scanner.start(got.put)  # type: ignore[attr-defined]
    return got


def wait_connected(scanner: object, timeout: float = 3.0) -> None:
    assert scanner.connected.wait(timeout)  # type: ignore[attr-defined]


# -- simulated -------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[SimulatedScanner]:
    with SimulatedScanner(rules=RULES, reconnect_interval=FAST, seed=1) as scanner:
        wait_connected(scanner)
        yield scanner


def test_simulated_scan_arrives_through_the_decoder_at_wedge_pace(sim: SimulatedScanner) -> None:
    got = collect(sim)
    code = "HTTPS://QS.EXAMPLE/V?C=330102-2026-000123&S=Ab+/="
    started = time.monotonic()
    sim.scan(code)
    assert got.get(timeout=3) == code
    # typed at 2-8 ms a character, as a real wedge does
    assert time.monotonic() - started >= 0.002 * (len(code) - 1)
    assert sim.wait_idle(2)


def test_simulated_garbage_and_dropped_terminator_are_never_delivered(
    sim: SimulatedScanner, caplog: pytest.LogCaptureFixture
) -> None:
    got = collect(sim)
    with caplog.at_level(logging.WARNING):
        sim.scan_garbage(20)
        sim.scan("LOST-ENTER", terminate=False)
        sim.scan("GOOD-1")
        assert got.get(timeout=3) == "GOOD-1"
        assert sim.wait_idle(2)
    assert got.empty()
    assert sim.decoder.dropped == 2
    assert "no terminator" in caplog.text


def test_without_the_pause_a_lost_enter_runs_into_the_next_code(sim: SimulatedScanner) -> None:
    with SimulatedScanner(rules=RULES, pause_after_fault=0, char_delay=None) as fast:
        wait_connected(fast)
        got = collect(fast)
        fast.scan("AB", terminate=False)
        fast.scan("CD")
        assert got.get(timeout=3) == "ABCD"  # what a real wedge would do, too


def test_simulated_scan_with_the_cable_out_goes_nowhere(sim: SimulatedScanner) -> None:
    got = collect(sim)
    sim.unplug()
    deadline = time.monotonic() + 2
    while sim.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sim.connected.is_set()
    sim.scan("INTO-THE-VOID")
    assert sim.wait_idle(2)
    sim.replug()
    wait_connected(sim)
    sim.scan("BACK")
    assert got.get(timeout=3) == "BACK"
    assert got.empty()


def test_simulated_refuses_untypeable_text(sim: SimulatedScanner) -> None:
    with pytest.raises(ValueError):
        sim.scan("白菜")


def test_factory_rejects_unknown_kind_and_serial_without_port() -> None:
    with pytest.raises(ValueError):
        open_barcode_scanner("bluetooth")
    with pytest.raises(ValueError):
        open_barcode_scanner("serial", device=None)


# -- serial over a real pty ------------------------------------------------------


@pytest.fixture
def pty_link(tmp_path: Path) -> Path:
    return tmp_path / "usb-Scanner_1234-if00"


def test_serial_scanner_over_a_pty(pty_link: Path, caplog: pytest.LogCaptureFixture) -> None:
    pty = Pty(pty_link)
    try:
        with SerialScanner(str(pty_link), rules=RULES, reconnect_interval=FAST) as scanner:
            wait_connected(scanner)
            got = collect(scanner)
            pty.write(b"6901234567892\r\n")
            assert got.get(timeout=3) == "6901234567892"
            pty.write(b"CERT-")
            time.sleep(0.05)
            pty.write(b"0001\n")  # split across writes, within the timeout
            assert got.get(timeout=3) == "CERT-0001"
            with caplog.at_level(logging.WARNING):
                pty.write(b"HALF")  # never terminated
                time.sleep(0.3)
                pty.write(b"\x02STX\r")  # control byte
                pty.write(b"OK\r")
                assert got.get(timeout=3) == "OK"
            assert got.empty()
            assert scanner.decoder.dropped == 2
    finally:
        pty.unplug()


def test_serial_scanner_waits_for_a_missing_port(tmp_path: Path) -> None:
    link = tmp_path / "not-yet"
    with SerialScanner(str(link), reconnect_interval=FAST) as scanner:
        time.sleep(0.15)
        assert not scanner.connected.is_set()
        pty = Pty(link)
        try:
            wait_connected(scanner)
            got = collect(scanner)
            pty.write(b"LATE\r")
            assert got.get(timeout=3) == "LATE"
        finally:
            pty.unplug()


# -- evdev device lookup with stand-in input devices ----------------------------------------


def test_find_device_path_by_glob_and_path(tmp_path: Path) -> None:
    kbd = tmp_path / "usb-ACME_Scanner-event-kbd"
    kbd.touch()
    assert find_device_path(str(tmp_path / "*-event-kbd")) == str(kbd)
    assert find_device_path(str(kbd)) == str(kbd)
    (tmp_path / "usb-ACME_Keyboard-event-kbd").touch()
    with pytest.raises(OSError, match="several"):
        find_device_path(str(tmp_path / "*-event-kbd"))
    with pytest.raises(FileNotFoundError):
        find_device_path(str(tmp_path / "missing-event-kbd"))


class FakeInputDevice:
    """The parts of evdev.InputDevice the backend touches."""

    registry: ClassVar[dict[str, tuple[str, list[int]]]] = {}
    busy: ClassVar[set[str]] = set()
    log: ClassVar[list[str]] = []

    def __init__(self, path: str) -> None:
        self.path = path
        self.name, self._keys = self.registry[path]
        self.fd = -1

    def capabilities(self) -> dict[int, list[int]]:
        return {1: self._keys}

    def grab(self) -> None:
        if self.path in self.busy:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.log.append(f"grab {self.path}")

    def ungrab(self) -> None:
        self.log.append(f"ungrab {self.path}")

    def close(self) -> None:
        self.log.append(f"close {self.path}")


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> type[FakeInputDevice]:
    evdev = pytest.importorskip("evdev")
    FakeInputDevice.registry = {
        "/dev/input/event3": ("ACME Consumer Control", [113, 114]),  # no Enter key
        "/dev/input/event4": ("ACME 2D Barcode Scanner Keyboard", [28, 30, 42]),
        "/dev/input/event5": ("ACME 2D Barcode Scanner", [28, 30, 42]),
    }
    FakeInputDevice.busy = set()
    FakeInputDevice.log = []
    monkeypatch.setattr(evdev, "InputDevice", FakeInputDevice)
    monkeypatch.setattr(evdev, "list_devices", lambda _dir: sorted(FakeInputDevice.registry))
    return FakeInputDevice


def test_evdev_device_found_by_name_exact_before_substring(fake_evdev: type) -> None:
    assert find_device_path("ACME 2D Barcode Scanner") == "/dev/input/event5"
    assert find_device_path("barcode scanner keyboard") == "/dev/input/event4"
    with pytest.raises(FileNotFoundError):
        find_device_path("ACME Consumer Control")  # types no Enter: not a scanner's keyboard


def test_evdev_source_grabs_and_releases(fake_evdev: type) -> None:
    from drivers.scanner.evdev_scanner import open_evdev_source

    source = open_evdev_source("ACME 2D Barcode Scanner")
    source.close()
    assert fake_evdev.log[-3:] == [
        "grab /dev/input/event5",
        "ungrab /dev/input/event5",
        "close /dev/input/event5",
    ]
    fake_evdev.busy.add("/dev/input/event5")
    with pytest.raises(OSError, match="busy"):
        open_evdev_source("ACME 2D Barcode Scanner")
    assert fake_evdev.log[-1] == "close /dev/input/event5"


def test_a_scan_right_after_opening_is_not_lost() -> None:
    with open_barcode_scanner("simulated") as scanner:
        got = collect(scanner)
        scanner.scan("FIRST")  # type: ignore[attr-defined]
        assert got.get(timeout=3) == "FIRST"
