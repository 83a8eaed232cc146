"""The kiosk's printer in simulation: the real ``TransportPrinter`` on an in-process device.

Only this class carries the bench's hands (``simulated_device``: set paper out, open
the cover, read back the labels); the real ``TransportPrinter`` has none.
"""

from __future__ import annotations

from pathlib import Path

from drivers.fonts import find_cjk_font
from drivers.printer.encoding import LabelEncoder
from drivers.printer.printer import TransportPrinter
from drivers.printer.profiles import PrinterProfile, get_profile
from drivers.printer.sim.device import SimulatedPrinter
from drivers.printer.sim.transport import SimulatedTransport


class SimulatedLabelPrinter(TransportPrinter):
    """Encodes, queries status and confirms copies exactly as on a real link."""

    def __init__(
        self,
        profile: PrinterProfile,
        device: SimulatedPrinter,
        encoder: LabelEncoder,
        *,
        status_timeout_s: float = 1.0,
    ) -> None:
        transport = SimulatedTransport(device)
        transport.open()
        super().__init__(profile, transport, encoder, status_timeout_s=status_timeout_s)
        self.simulated_device = device


def open_simulated_printer(
    profile: str,
    device: SimulatedPrinter | None = None,
    *,
    font_path: Path | None = None,
    status_timeout_s: float = 2.0,
) -> SimulatedLabelPrinter:
    """A simulated printer of ``profile``; pass ``device`` to set faults before opening."""
    from drivers.printer.factory import make_encoder

    prof = get_profile(profile)
    font = find_cjk_font(font_path)
    if device is None:
        device = SimulatedPrinter(prof, font_path=font)
    elif device.profile.name != prof.name:
        raise ValueError(f"device is a {device.profile.name}, not a {prof.name}")
    return SimulatedLabelPrinter(
        prof, device, make_encoder(prof, font), status_timeout_s=status_timeout_s
    )
