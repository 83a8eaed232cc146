"""Every ``Scale`` backend that can run here, each with the bench's hands on the platform.

Both read a ``ScaleIndicator``'s line stream (place a load, overload, garbage, a
pulled cable) through the real splitter, parser and staleness rules:

- ``simulated``: ``SimulatedScale``, the stream read in-process.
- ``serial-pty``: ``SerialScale`` on a real pty behind a by-id style link, fed by a
  ``PtyScaleServer``; unplugging removes the device node, replugging makes a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from drivers.scale import Scale
from drivers.scale.serial_scale import SerialScale
from drivers.scale.sim.scale import ScaleIndicator, SimulatedScale
from drivers.scale.sim.servers import PtyScaleServer

BACKENDS = ("simulated", "serial-pty")
INTERVAL_S = 0.01  # a fast indicator: the tests are about behaviour, not 10 Hz
STALE_AFTER_S = 0.3


@dataclass
class ScaleRig:
    backend: str
    scale: Scale
    indicator: ScaleIndicator  # the platform and its indicator: loads and faults go here
    server: PtyScaleServer | None = None

    @property
    def store(self):
        """The reading store both backends feed (garbage and overload counters)."""
        return self.scale.store  # type: ignore[attr-defined]

    def unplug(self) -> None:
        if self.server is not None:
            self.server.unplug()
        else:
            self.indicator.go_silent()

    def replug(self) -> None:
        if self.server is not None:
            self.server.replug()
        else:
            self.indicator.go_silent(False)


def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@contextmanager
def scale_rig(backend: str, tmp_path: Path, *, unit: str = "kg") -> Iterator[ScaleRig]:
    if backend == "simulated":
        scale = SimulatedScale(interval=INTERVAL_S, stale_after=STALE_AFTER_S, unit=unit, seed=3)
        with scale:
            yield ScaleRig(backend, scale, scale.indicator)
    elif backend == "serial-pty":
        indicator = ScaleIndicator(unit=unit, seed=3)
        link = tmp_path / "usb-Scale-if00-port0"
        with (
            PtyScaleServer(indicator, link, interval=INTERVAL_S) as server,
            SerialScale(str(link), stale_after=STALE_AFTER_S, reconnect_interval=0.05) as scale,
        ):
            assert scale.connected.wait(3)
            yield ScaleRig(backend, scale, indicator, server)
    else:
        raise ValueError(f"no scale backend {backend!r}")
