"""Drawing helpers shared by the simulated printers: text on a fixed cell pitch, QR, bits."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.printer.document import char_cells
from drivers.printer.render import qr_matrix


@lru_cache(maxsize=16)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def draw_text(
    image: Image.Image, x: int, y: int, text: str, size: int, font_path: Path, bold: bool = False
) -> int:
    """Draw like a printer's resident font: every character on its cell. Returns the end x."""
    draw = ImageDraw.Draw(image)
    font = _font(str(font_path), size)
    for char in text:
        for dx in (0, 1) if bold else (0,):
            draw.text((x + dx, y), char, font=font, fill=0)
        x += char_cells(char) * size // 2
    return x


def draw_qr(image: Image.Image, x: int, y: int, data: str, module: int, level: str) -> int:
    """Draw the QR the printer would build from ``data`` (smallest version). Returns height."""
    matrix = qr_matrix(data, level)
    draw = ImageDraw.Draw(image)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            if dark:
                px, py = x + col * module, y + row * module
                draw.rectangle([px, py, px + module - 1, py + module - 1], fill=0)
    return len(matrix) * module


def paste_bits(
    image: Image.Image, x: int, y: int, width_bytes: int, height: int, data: bytes, dark: int
) -> None:
    """Row-major, MSB-left bitmap; ``dark`` is the bit value that prints (1 ESC/POS, 0 TSPL)."""
    px = image.load()
    assert px is not None  # load() returns the pixel access of a loaded image
    for row in range(height):
        for col in range(width_bytes * 8):
            bit = (data[row * width_bytes + col // 8] >> (7 - col % 8)) & 1
            if bit == dark and 0 <= x + col < image.width and 0 <= y + row < image.height:
                px[x + col, y + row] = 0
