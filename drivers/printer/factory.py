"""``open_label_printer``: the one place a profile name and transport settings become a printer."""

from __future__ import annotations

from pathlib import Path

from drivers.fonts import find_cjk_font
from drivers.printer.encoding import LabelEncoder
from drivers.printer.printer import TransportPrinter
from drivers.printer.profiles import PrinterProfile, get_profile
from drivers.printer.transports import TransportSettings, make_transport
from drivers.printer.tspl_encoder import TsplEncoder


def make_encoder(profile: PrinterProfile, font_path: Path) -> LabelEncoder:
    if profile.language == "tspl":
        return TsplEncoder(profile, font_path)
    # python-escpos loads its printer capability database on import (~170 ms here):
    # only kiosks with an ESC/POS printer pay for it.
    from drivers.printer.escpos_encoder import EscposEncoder

    return EscposEncoder(profile, font_path)


def open_label_printer(
    profile: str,
    transport: TransportSettings,
    *,
    font_path: Path | None = None,
    simulated_device: object | None = None,
) -> TransportPrinter:
    """Open the printer ``profile`` names over ``transport``.

    ``kind="simulated"`` builds a ``SimulatedPrinter`` for the profile unless one is
    given (tests pass their own to set faults first); reach it as ``.simulated_device``.
    The font renders rasters (and the simulator's native text).
    """
    prof = get_profile(profile)
    font = find_cjk_font(font_path)
    device = simulated_device
    if transport.kind == "simulated" and device is None:
        from drivers.printer.sim.device import SimulatedPrinter

        device = SimulatedPrinter(prof, font_path=font)
    link = make_transport(transport, device)  # type: ignore[arg-type]
    link.open()
    return TransportPrinter(
        prof, link, make_encoder(prof, font), status_timeout_s=transport.timeout_s
    )
