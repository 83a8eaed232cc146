"""Choosing a reader backend is configuration: `open_test_reader(kind=...)`."""

from __future__ import annotations

import os
from collections.abc import Sequence

from drivers.reader.serial_reader import BridgeTestReader
from drivers.reader.sim.reader import SimulatorProcess
from readerlink.errors import LinkError
from readerlink.host import ReaderLink

KINDS = ("serial", "simulated")


def open_test_reader(
    kind: str = "serial",
    *,
    port: str | os.PathLike[str] | None = None,
    baudrate: int = 115200,
    time_scale: float = 1.0,
    simulator_args: Sequence[str] = (),
    simulator_log: str | os.PathLike[str] | None = None,
    request_timeout: float = 5.0,
    open_timeout: float = 10.0,
) -> BridgeTestReader:
    """Open the reader.

    kind="serial": `port` is the device path; prefer the stable
    `/dev/serial/by-id/usb-...` link over `/dev/ttyUSB0`, which moves on re-enumeration.
    kind="simulated": start the firmware simulator behind a pty (at `port` if given,
    else in a temporary directory) and attach to it; closing the reader stops it.
    """
    if kind not in KINDS:
        raise ValueError(f"reader kind {kind!r} is not one of {', '.join(KINDS)}")
    if baudrate <= 0:
        raise ValueError("baudrate must be positive")
    sim: SimulatorProcess | None = None
    if kind == "simulated":
        sim = SimulatorProcess(
            port,
            baudrate=baudrate,
            time_scale=time_scale,
            extra_args=simulator_args,
            log_path=simulator_log,
        )
        port = sim.start()
    elif port is None:
        raise ValueError("a serial reader needs port=, e.g. /dev/serial/by-id/usb-...")
    link = ReaderLink(os.fspath(port), baudrate, request_timeout=request_timeout)
    try:
        link.open(timeout=open_timeout)
        reader = BridgeTestReader(link, on_close=sim.stop if sim else None, simulator=sim)
    except (LinkError, ValueError):
        link.close()
        if sim is not None:
            sim.stop()
        raise
    return reader
