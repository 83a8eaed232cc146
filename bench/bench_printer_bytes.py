"""Bytes per label and time on the wire for each printer profile.

A certificate-like label (Chinese title, 7 field lines, 2 lines of small commitment
text, a ~350-char alphanumeric URL QR) is encoded by the real encoders; wire time is
bytes x 10 bits (8N1) / baud. Run: ``.venv/bin/python bench/bench_printer_bytes.py``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.printer_decode import certificate_like_document

from drivers.fonts import find_cjk_font
from drivers.printer.factory import make_encoder
from drivers.printer.profiles import get_profile

log = logging.getLogger("bench_printer_bytes")

PROFILES = [
    ("escpos-80-raster", "ESC/POS raster GS v 0"),
    ("escpos-80-column", "ESC/POS raster ESC *"),
    ("escpos-80-native", "ESC/POS native"),
    ("escpos-58-raster", "ESC/POS raster GS v 0"),
    ("escpos-58-native", "ESC/POS native"),
    ("tspl-60x40", "TSPL native"),
    ("tspl-60x40-raster", "TSPL raster BITMAP"),
]
BAUDS = (9600, 115200)
BITS_PER_BYTE = 10
NATIVE_TARGET = 2048


def rows() -> list[tuple[str, str, int, int, float, float]]:
    font = find_cjk_font()
    out = []
    for name, kind in PROFILES:
        profile = get_profile(name)
        doc = certificate_like_document(profile.width, profile.height or 320)
        encoded = make_encoder(profile, font).encode(doc)
        n = len(encoded.first)
        times = [n * BITS_PER_BYTE / baud for baud in BAUDS]
        out.append((name, kind, n, len(encoded.repeat), *times))
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    head = f"{'profile':<19} {'kind':<22} {'bytes':>7} {'repeat':>7} {'9600 s':>8} {'115200 s':>9}"
    lines = [head, "-" * len(head)]
    for name, kind, n, repeat, t9600, t115200 in rows():
        flag = " *" if "native" in kind.lower() and n > NATIVE_TARGET else ""
        lines.append(
            f"{name:<19} {kind:<22} {n:>7} {repeat:>7} {t9600:>8.2f} {t115200:>9.3f}{flag}"
        )
    lines.append(f"repeat = bytes of each further copy; * = native profile over {NATIVE_TARGET} B")
    log.info("\n".join(lines))


if __name__ == "__main__":
    main()
