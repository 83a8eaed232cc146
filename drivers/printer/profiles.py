"""What each supported printer model can do, looked up by the name the kiosk config uses.

A profile is data, not code: the encoders read it to decide between native text/QR
commands and a raster, and the printer reads it to know whether it may ask for status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["escpos", "tspl"]
#: ``gs_v_0`` = ESC/POS ``GS v 0`` raster; ``esc_star`` = ``ESC *`` column images
#: (older printers without GS v 0); ``bitmap`` = TSPL ``BITMAP``.
RasterCommand = Literal["gs_v_0", "esc_star", "bitmap"]


#: 203 dpi thermal heads are specified as 8 dots/mm; TSPL SIZE is given in mm.
DOTS_PER_MM = 8


class UnknownProfileError(ValueError):
    """The configured profile name is not one this driver knows."""


@dataclass(frozen=True)
class PrinterProfile:
    name: str
    language: Language
    width: int  # printable dots across
    height: int | None  # label height in dots; None for continuous rolls
    native_text: bool  # GB18030 text with the printer's own CJK font
    native_qr: bool  # the printer draws QR codes from their data
    raster: RasterCommand
    native_text_sizes: tuple[int, ...] = ()  # TextBlock sizes the printer draws itself
    status: bool = True  # answers real-time status queries
    label_gap_mm: float = 0.0  # TSPL GAP between labels
    dpi: int = 203

    @property
    def width_mm(self) -> float:
        return self.width / DOTS_PER_MM

    @property
    def height_mm(self) -> float | None:
        return None if self.height is None else self.height / DOTS_PER_MM


#: ESC/POS CJK fonts are 24 x 24 dots; ``GS !`` doubles them to 48. Other sizes are rastered.
ESCPOS_NATIVE_SIZES = (24, 48)
#: TSPL TSS16.BF2 / TSS24.BF2 and their x2 multiplications.
TSPL_NATIVE_SIZES = (16, 24, 32, 48)

PROFILES: dict[str, PrinterProfile] = {
    p.name: p
    for p in (
        PrinterProfile("escpos-80-raster", "escpos", 576, None, False, False, "gs_v_0"),
        PrinterProfile(
            "escpos-80-native", "escpos", 576, None, True, True, "gs_v_0", ESCPOS_NATIVE_SIZES
        ),
        PrinterProfile("escpos-80-column", "escpos", 576, None, False, False, "esc_star"),
        PrinterProfile("escpos-58-raster", "escpos", 384, None, False, False, "gs_v_0"),
        PrinterProfile(
            "escpos-58-native", "escpos", 384, None, True, True, "gs_v_0", ESCPOS_NATIVE_SIZES
        ),
        PrinterProfile("escpos-58-column", "escpos", 384, None, False, False, "esc_star"),
        PrinterProfile(
            "tspl-60x40",
            "tspl",
            480,
            320,
            True,
            True,
            "bitmap",
            TSPL_NATIVE_SIZES,
            label_gap_mm=2.0,
        ),
        PrinterProfile(
            "tspl-60x40-raster", "tspl", 480, 320, False, False, "bitmap", label_gap_mm=2.0
        ),
    )
}


def get_profile(name: str) -> PrinterProfile:
    """The profile called ``name``; the error lists the known names so config typos are obvious."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(f"unknown printer profile {name!r}; known: {known}") from None
