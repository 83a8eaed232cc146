"""The serial scale over a real pty, and the simulated scale through the same path."""

from __future__ import annotations

import logging
import os
import time
import tty
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.scale import Weight
from drivers.scale.factory import open_scale
from drivers.scale.serial_scale import SerialScale
from drivers.scale.sim.scale import SimulatedScale


def wait_for(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


class Pty:
    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def test_serial_scale_over_a_pty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "usb-Scale-if00-port0"
    pty = Pty(link)
    try:
        with SerialScale(str(link), stale_after=0.3, reconnect_interval=0.05) as scale:
            assert scale.connected.wait(3)
            assert scale.latest() is None
            pty.write(b"US,GS,+0012.31kg\r\n")
            assert wait_for(lambda: scale.latest() == Weight(Decimal("12.31"), False))
            with caplog.at_level(logging.WARNING):
                pty.write(b"\x00\x13garbage\r\nST,GS,+00")
                time.sleep(0.02)
                pty.write(b"12.50kg\r\n")  # a reading split across reads
                assert wait_for(lambda: scale.latest() == Weight(Decimal("12.50"), True))
            assert "garbage" in caplog.text
            assert scale.store.garbage == 1
            assert wait_for(lambda: scale.latest() is None, timeout=1.0)  # stale after 0.3 s
    finally:
        pty.unplug()


def test_serial_scale_reopens_after_unplug(tmp_path: Path) -> None:
    link = tmp_path / "usb-Scale-if00-port0"
    first = Pty(link)
    with SerialScale(str(link), stale_after=5, reconnect_interval=0.05) as scale:
        assert scale.connected.wait(3)
        first.write(b"ST,GS,+0001.00kg\r\n")
        assert wait_for(lambda: scale.latest() is not None)
        first.unplug()
        second = Pty(link)
        try:
            assert wait_for(lambda: scale.connections == 2)
            second.write(b"ST,GS,+0002.00kg\r\n")
            assert wait_for(lambda: scale.latest() == Weight(Decimal("2.00"), True))
        finally:
            second.unplug()


def test_simulated_scale_settles_then_reports_stable() -> None:
    with SimulatedScale(interval=0.01, settle_readings=5, seed=3) as scale:
        assert wait_for(lambda: scale.latest() == Weight(Decimal("0.00"), True))
        seen: list[Weight] = []
        scale.place("12.5")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            w = scale.latest()
            if w is not None and (not seen or w != seen[-1]):
                seen.append(w)
            if w == Weight(Decimal("12.50"), True):
                break
            time.sleep(0.002)
        assert seen[-1] == Weight(Decimal("12.50"), True)
        assert any(not w.stable for w in seen)  # it swung before it settled
        assert all(w.stable or abs(w.kilograms - Decimal("12.5")) < 10 for w in seen)
        scale.remove()
        assert wait_for(lambda: scale.latest() == Weight(Decimal("0.00"), True))


def test_simulated_faults_go_through_the_same_path(caplog: pytest.LogCaptureFixture) -> None:
    with SimulatedScale(interval=0.01, stale_after=0.2, unit="g", seed=1) as scale:
        scale.place(Decimal("0.75"))
        assert wait_for(lambda: scale.latest() == Weight(Decimal("0.75"), True))
        with caplog.at_level(logging.WARNING):
            scale.send_garbage()
            assert wait_for(lambda: scale.store.garbage >= 1)
        assert "garbage" in caplog.text
        scale.go_silent()
        assert wait_for(lambda: scale.latest() is None, timeout=1.0)
        scale.go_silent(False)
        assert wait_for(lambda: scale.latest() is not None)
        scale.overload()
        assert wait_for(lambda: scale.store.overloads >= 1)
        assert scale.latest() is None


def test_factory_and_close() -> None:
    assert open_scale("none") is None
    with pytest.raises(ValueError):
        open_scale("serial", port=None)
    with pytest.raises(ValueError):
        open_scale("usb")
    scale = open_scale("simulated")
    assert scale is not None
    scale.close()
    scale.close()
    serial_scale = open_scale("serial", port="/nonexistent/scale")
    assert serial_scale is not None
    assert serial_scale.latest() is None
    serial_scale.close()
    serial_scale.close()
