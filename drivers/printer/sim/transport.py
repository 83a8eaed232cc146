"""The transport to a ``SimulatedPrinter`` in the same process: bytes in, replies out.

The other transports reach a simulated printer over a real pty or socket
(``sim.servers``); this one skips the file descriptor, for the kiosk in simulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.printer.transports.base import Transport, TransportError

if TYPE_CHECKING:
    from drivers.printer.sim.device import SimulatedPrinter


class SimulatedTransport(Transport):
    def __init__(self, device: SimulatedPrinter) -> None:
        self.device = device
        self._replies = bytearray()
        self._open = False
        self.description = f"simulated {device.profile.name}"

    def open(self) -> None:
        self._open = True

    def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportError(f"{self.description} is not open")
        self._replies += self.device.receive(data)

    def read(self, size: int, timeout_s: float) -> bytes:
        """What the device answered; an empty answer stands for a read that timed out."""
        if not self._open:
            raise TransportError(f"{self.description} is not open")
        out = bytes(self._replies[:size])
        del self._replies[:size]
        return out

    def close(self) -> None:
        self._open = False
