"""Choosing a reader backend is configuration: `open_test_reader(kind=...)`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.reader.serial_reader import BridgeTestReader

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
    else in a temporary directory) and attach to it; the result is a
    ``SimulatedTestReader`` (bench ``controls``), and closing it stops the simulator.
    """
    if kind not in KINDS:
        raise ValueError(f"reader kind {kind!r} is not one of {', '.join(KINDS)}")
    if baudrate <= 0:
        raise ValueError("baudrate must be positive")
    if kind == "simulated":
        from drivers.reader.sim.reader import open_simulated_reader

        return open_simulated_reader(
            port,
            baudrate=baudrate,
            time_scale=time_scale,
            simulator_args=simulator_args,
            simulator_log=simulator_log,
            request_timeout=request_timeout,
            open_timeout=open_timeout,
        )
    if port is None:
        raise ValueError("a serial reader needs port=, e.g. /dev/serial/by-id/usb-...")
    # Here, not at the top: the link stack is not needed before a reader is opened.
    from drivers.reader.serial_reader import BridgeTestReader
    from readerlink.errors import LinkError
    from readerlink.host import ReaderLink

    link = ReaderLink(os.fspath(port), baudrate, request_timeout=request_timeout)
    try:
        link.open(timeout=open_timeout)
        return BridgeTestReader(link)
    except (LinkError, ValueError):
        link.close()
        raise
