"""Serial byte handling (a reading split across reads, exact garbage counts) and the
factory. Loads, faults, staleness, unplug and closing run on every scale backend in
tests/test_contract_scale.py."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pytest
from support.pty import Pty

from drivers.scale import Weight
from drivers.scale.factory import open_scale
from drivers.scale.serial_scale import SerialScale


def wait_for(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


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
