"""Draw a ``LabelDocument`` to a 1-bit image: raster printing and the on-screen preview."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.printer.document import LabelDocument, QrBlock, Rule, TextBlock


@lru_cache(maxsize=16)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=32)
def qr_matrix(
    data: str, error_level: str = "M", version: int | None = None
) -> tuple[tuple[bool, ...], ...]:
    """Modules of the QR for ``data``, dark = True, without the quiet zone.

    Cached: choosing the mask is ~40 ms here (several times that on a Pi), and the same
    QR is asked for again and again: the confirm screen's preview (on the UI thread) of
    the same draft, and a label's height before its raster."""
    import segno  # here: not needed before the first label (~0.05 s of the cold start)

    code = segno.make_qr(
        data, error=error_level.lower(), version=version or None, boost_error=False
    )
    return tuple(tuple(bool(v) for v in row) for row in code.matrix)


def draw_qr(image: Image.Image, block: QrBlock) -> None:
    matrix = qr_matrix(block.data, block.error_level, block.version or None)
    draw = ImageDraw.Draw(image)
    m = block.module
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            if dark:
                x, y = block.x + col * m, block.y + row * m
                draw.rectangle([x, y, x + m - 1, y + m - 1], fill=0)


def render_label(document: LabelDocument, font_path: Path) -> Image.Image:
    """A mode "1" image, white paper (1) with black dots (0), one pixel per printer dot."""
    image = Image.new("1", (document.width, document.height), 1)
    draw = ImageDraw.Draw(image)
    for block in document.blocks:
        if isinstance(block, TextBlock):
            font = _font(str(font_path), block.size)
            # Text is drawn at its cell height; ascent alignment keeps baselines level.
            draw.text((block.x, block.y), block.text, font=font, fill=0)
            if block.bold:
                draw.text((block.x + 1, block.y), block.text, font=font, fill=0)
        elif isinstance(block, QrBlock):
            draw_qr(image, block)
        elif isinstance(block, Rule):
            draw.rectangle(
                [block.x, block.y, block.x + block.width - 1, block.y + block.height - 1], fill=0
            )
    return image
