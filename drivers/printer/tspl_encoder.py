"""LabelDocument -> TSPL: native TSS16/TSS24 GB18030 text, QRCODE and BAR, or one BITMAP.

TSPL draws into an image buffer and ``PRINT n`` prints it; the buffer survives PRINT,
so further copies are sent as ``PRINT 1`` alone (a few bytes at 9600 baud).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from drivers.printer import tspl_commands as T
from drivers.printer.document import LabelDocument, QrBlock, Rule, TextBlock
from drivers.printer.encoding import EncodedLabel, LabelEncoder
from drivers.printer.profiles import PrinterProfile
from drivers.printer.render import render_label

#: BITMAP mode 0 = OVERWRITE.
BITMAP_OVERWRITE = 0


def _line(text: str) -> bytes:
    return text.encode("ascii") + T.CRLF


def header(profile: PrinterProfile) -> bytes:
    """Media size, gap, direction, and a cleared image buffer."""
    return b"".join(
        [
            _line(f"SIZE {profile.width_mm:g} mm,{profile.height_mm:g} mm"),
            _line(f"GAP {profile.label_gap_mm:g} mm,0 mm"),
            _line("DIRECTION 1"),
            _line("REFERENCE 0,0"),
            _line("CLS"),
        ]
    )


def text(block: TextBlock) -> bytes:
    font, mul = T.FONT_FOR_SIZE[block.size]
    head = f'TEXT {{x}},{block.y},"{font}",0,{mul},{mul},'
    out = head.format(x=block.x).encode("ascii") + T.quote(block.text) + T.CRLF
    if block.bold:  # resident fonts have no bold: overstrike one dot to the right
        out += head.format(x=block.x + 1).encode("ascii") + T.quote(block.text) + T.CRLF
    return out


def qrcode(block: QrBlock) -> bytes:
    """QRCODE x,y,ECC,cell,mode A(uto),rotation 0,"data"."""
    head = f"QRCODE {block.x},{block.y},{block.error_level},{block.module},A,0,"
    return head.encode("ascii") + T.quote(block.data) + T.CRLF


def bar(block: Rule) -> bytes:
    return _line(f"BAR {block.x},{block.y},{block.width},{block.height}")


def bitmap(image: Image.Image, x: int = 0, y: int = 0) -> bytes:
    """BITMAP x,y,width bytes,height,mode,data: row-major, MSB left; a 0 bit prints a dot."""
    img = image.convert("1")
    width_bytes = (img.width + 7) // 8
    padded = Image.new("1", (width_bytes * 8, img.height), 1)
    padded.paste(img, (0, 0))
    # PIL mode "1" packs white as 1, which is what TSPL's BITMAP wants: no inversion.
    data = padded.tobytes()
    head = f"BITMAP {x},{y},{width_bytes},{img.height},{BITMAP_OVERWRITE},"
    return head.encode("ascii") + data + T.CRLF


def print_copies(n: int = 1) -> bytes:
    return _line(f"PRINT {n}")


class TsplEncoder(LabelEncoder):
    def __init__(self, profile: PrinterProfile, font_path: Path) -> None:
        self.profile = profile
        self.font_path = font_path

    def encode(self, document: LabelDocument) -> EncodedLabel:
        if document.width > self.profile.width or document.height > (self.profile.height or 0):
            raise ValueError(
                f"label is {document.width}x{document.height} dots; "
                f"{self.profile.name} takes {self.profile.width}x{self.profile.height}"
            )
        parts = [header(self.profile)]
        if self.profile.native_text:
            parts += [self._native(b) for b in document.blocks]
        else:
            parts.append(bitmap(render_label(document, self.font_path)))
        parts.append(print_copies(1))
        return EncodedLabel(first=b"".join(parts), repeat=print_copies(1))

    def _native(self, block: TextBlock | QrBlock | Rule) -> bytes:
        if isinstance(block, TextBlock):
            return text(block)
        if isinstance(block, QrBlock):
            return qrcode(block)
        return bar(block)
