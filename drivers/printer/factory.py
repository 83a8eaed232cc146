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
    profile: str, transport: TransportSettings, *, font_path: Path | None = None
) -> TransportPrinter:
    """Open the printer ``profile`` names over ``transport``.

    ``kind="simulated"`` gives a ``sim.SimulatedLabelPrinter`` on a new simulated device
    (its ``simulated_device``); tests that set faults before opening use
    ``sim.open_simulated_printer``. The font renders rasters (and the simulator's
    native text).
    """
    if transport.kind == "simulated":
        from drivers.printer.sim.printer import open_simulated_printer

        return open_simulated_printer(
            profile, font_path=font_path, status_timeout_s=transport.timeout_s
        )
    prof = get_profile(profile)
    font = find_cjk_font(font_path)
    link = make_transport(transport)
    link.open()
    return TransportPrinter(
        prof, link, make_encoder(prof, font), status_timeout_s=transport.timeout_s
    )
