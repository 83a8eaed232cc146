"""Choosing a scale backend is configuration: ``open_scale(kind=...)``."""

from __future__ import annotations

from drivers.scale import Scale
from drivers.scale.readings import STALE_AFTER_S

KINDS = ("simulated", "serial", "none")


def open_scale(
    kind: str,
    *,
    port: str | None = None,
    baudrate: int = 9600,
    stale_after: float = STALE_AFTER_S,
) -> Scale | None:
    """Open the scale, or return None for kind="none" (a kiosk without one).

    kind="serial": ``port`` (prefer ``/dev/serial/by-id/...``) at ``baudrate``; the
    scale must be in continuous-output mode (see ``drivers.scale.protocol``).
    kind="simulated": a ``SimulatedScale`` with ``place(kg)``. ``latest()`` returns
    None when nothing arrived for ``stale_after`` seconds.
    """
    if kind == "none":
        return None
    if kind == "simulated":
        from drivers.scale.sim.scale import SimulatedScale

        return SimulatedScale(stale_after=stale_after)
    if kind == "serial":
        if not port:
            raise ValueError("a serial scale needs port=, e.g. /dev/serial/by-id/usb-...")
        if baudrate <= 0:
            raise ValueError("baudrate must be positive")
        from drivers.scale.serial_scale import SerialScale

        return SerialScale(port, baudrate=baudrate, stale_after=stale_after)
    raise ValueError(f"scale kind {kind!r} is not one of {', '.join(KINDS)}")
