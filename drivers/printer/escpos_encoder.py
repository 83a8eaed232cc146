"""LabelDocument -> ESC/POS bytes: a whole-label raster, or native GB18030 text and QR.

Raster (``GS v 0``) and native QR (``GS ( k``) bytes come from python-escpos's command
layer (its ``Dummy`` printer captures them). Text is encoded here: python-escpos 3.1
switches to GB18030 only when a string holds a CJK ideograph in U+4E00-U+9FA5 and never
sends ``FS &``, so full-width punctuation alone falls back to ``?``; we always send
``FS &`` + GB18030 + ``FS .``. ``ESC *`` is encoded here too: python-escpos sets the
line spacing to 16 between 24-dot stripes, which leaves gaps/overlaps on 203-dpi
printers whose vertical unit is one dot; we set ``ESC 3 24``.

Native layout works in standard mode, top to bottom: blocks are grouped into bands
(blocks that overlap vertically). A band of same-size, same-top text in a size the
printer has natively becomes one text line (``ESC $`` for each block's x); a band that
is one QR becomes a native QR; anything else (rules, 16/32-dot text, text beside a QR)
is sent as a small ``GS v 0`` raster of just that band. Gaps are fed with ``ESC J``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q
from escpos.printer import Dummy
from PIL import Image, ImageOps

from drivers.printer import escpos_commands as C
from drivers.printer.document import Block, LabelDocument, QrBlock, TextBlock
from drivers.printer.encoding import EncodedLabel, LabelEncoder
from drivers.printer.profiles import PrinterProfile
from drivers.printer.render import qr_matrix, render_label

log = logging.getLogger(__name__)

_PYESCPOS_EC = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}
#: Feed after the label before the cut so the last line clears the cutter.
CUT_FEED_DOTS = 24


def _command_layer(width: int) -> Dummy:
    """A python-escpos printer that captures bytes; told the paper width so it validates."""
    dummy = Dummy()
    dummy.profile.profile_data = copy.deepcopy(dummy.profile.profile_data)
    dummy.profile.profile_data["media"]["width"]["pixels"] = width
    return dummy


def raster_gs_v_0(image: Image.Image, width: int) -> bytes:
    """``GS v 0`` bytes of a 1-bit image (black = 0 in PIL, printed dots)."""
    dummy = _command_layer(width)
    dummy.image(image.convert("1"), impl="bitImageRaster")
    return dummy.output


def raster_esc_star(image: Image.Image) -> bytes:
    """``ESC *`` 24-dot double-density stripes, each ended by LF with 24-dot line spacing."""
    img = image.convert("1")
    w, h = img.size
    px = img.load()
    assert px is not None  # load() returns the pixel access of a loaded image
    out = [C.LINE_SPACING + bytes((24,))]
    for top in range(0, h, 24):
        data = bytearray()
        for x in range(w):
            for byte_row in range(3):
                value = 0
                for bit in range(8):
                    y = top + byte_row * 8 + bit
                    if y < h and px[x, y] == 0:
                        value |= 0x80 >> bit
                data.append(value)
        out.append(C.COLUMN_IMAGE + bytes((33,)) + C.u16(w) + bytes(data) + C.LF)
    out.append(C.LINE_SPACING_DEFAULT)
    return b"".join(out)


def native_qr(block: QrBlock, width: int) -> bytes:
    """``GS ( k`` model 2, module size, error level, store and print, via python-escpos."""
    dummy = _command_layer(width)
    dummy.qr(block.data, ec=_PYESCPOS_EC[block.error_level], size=block.module, native=True)
    return dummy.output


@dataclass
class TextModes:
    """Modes the printer is in, so a line only sends the ones that change (bytes matter at 9600)."""

    line_spacing: int = -1
    size: int = 0x00
    bold: bool = False


def native_text_line(blocks: list[TextBlock], modes: TextModes) -> bytes:
    """One printed line: each block at its x in Chinese mode, then LF."""
    size = blocks[0].size
    out = []
    if modes.line_spacing != size:
        out.append(C.LINE_SPACING + bytes((size,)))
        modes.line_spacing = size
    for block in sorted(blocks, key=lambda b: b.x):
        out.append(C.ABS_POSITION + C.u16(block.x))
        magnify = 0x11 if size == 48 else 0x00
        if modes.size != magnify:
            out.append(C.CHAR_SIZE + bytes((magnify,)))
            modes.size = magnify
        if modes.bold != block.bold:
            out.append(C.BOLD + bytes((1 if block.bold else 0,)))
            modes.bold = block.bold
        out.append(C.CHINESE_ON + block.text.encode("gb18030") + C.CHINESE_OFF)
    out.append(C.LF)
    return b"".join(out)


def feed(dots: int) -> bytes:
    out = []
    while dots > 0:
        step = min(dots, 255)
        out.append(C.FEED_DOTS + bytes((step,)))
        dots -= step
    return b"".join(out)


def qr_height(block: QrBlock) -> int:
    """Height the printer feeds for a QR: it picks the smallest version that fits."""
    return len(qr_matrix(block.data, block.error_level)) * block.module


def block_span(block: Block) -> tuple[int, int]:
    if isinstance(block, TextBlock):
        return block.y, block.y + block.size
    if isinstance(block, QrBlock):
        return block.y, block.y + qr_height(block)
    return block.y, block.y + block.height


@dataclass
class Band:
    top: int
    bottom: int
    blocks: list[Block]


def bands(document: LabelDocument) -> list[Band]:
    """Blocks grouped so that no two bands overlap vertically, top to bottom."""
    result: list[Band] = []
    for block in sorted(document.blocks, key=lambda b: block_span(b)[0]):
        top, bottom = block_span(block)
        if result and top < result[-1].bottom:
            result[-1].bottom = max(result[-1].bottom, bottom)
            result[-1].blocks.append(block)
        else:
            result.append(Band(top, bottom, [block]))
    return result


class EscposEncoder(LabelEncoder):
    def __init__(self, profile: PrinterProfile, font_path: Path) -> None:
        self.profile = profile
        self.font_path = font_path

    def encode(self, document: LabelDocument) -> EncodedLabel:
        if document.width > self.profile.width:
            raise ValueError(
                f"label is {document.width} dots wide; "
                f"{self.profile.name} prints {self.profile.width}"
            )
        if self.profile.native_text or self.profile.native_qr:
            body = self._native(document)
        else:
            image = render_label(document, self.font_path)
            body = self._raster(image)
        data = C.INIT + body + feed(CUT_FEED_DOTS) + C.CUT_PARTIAL
        return EncodedLabel(first=data, repeat=data)

    def _raster(self, image: Image.Image) -> bytes:
        if self.profile.raster == "esc_star":
            return raster_esc_star(image)
        return raster_gs_v_0(image, self.profile.width)

    def _native_kind(self, band: Band) -> str:
        blocks = band.blocks
        if len(blocks) == 1 and isinstance(blocks[0], QrBlock) and self.profile.native_qr:
            return "qr"
        if (
            self.profile.native_text
            and all(isinstance(b, TextBlock) for b in blocks)
            and len({(b.y, b.size) for b in blocks}) == 1  # type: ignore[union-attr]  # a text band holds TextBlocks
            and blocks[0].size in self.profile.native_text_sizes  # type: ignore[union-attr]  # a text band holds TextBlocks
        ):
            return "text"
        return "raster"

    def _native(self, document: LabelDocument) -> bytes:
        out: list[bytes] = []
        y = 0  # dots fed so far
        image: Image.Image | None = None
        modes = TextModes()  # ESC @ at the start of the label put the printer in these
        all_bands = bands(document)
        for index, band in enumerate(all_bands):
            out.append(feed(band.top - y))
            y = band.top
            kind = self._native_kind(band)
            if kind == "text":
                out.append(native_text_line(band.blocks, modes))  # type: ignore[arg-type]  # a text band holds TextBlocks
                y += band.blocks[0].size  # type: ignore[union-attr]  # a text band holds TextBlocks
            elif kind == "qr":
                qr = band.blocks[0]
                assert isinstance(qr, QrBlock)  # a "qr" band holds its one QR block
                out.append(C.ABS_POSITION + C.u16(qr.x))
                out.append(native_qr(qr, self.profile.width))
                y += qr_height(qr)
            else:
                if image is None:
                    image = render_label(document, self.font_path)
                limit = all_bands[index + 1].top if index + 1 < len(all_bands) else image.height
                piece = _band_image(image, band.top, limit)
                if piece is not None:
                    out.append(raster_gs_v_0(piece, self.profile.width))
                    y += piece.height
        out.append(feed(document.height - y))
        if modes.size or modes.bold:
            out.append(C.CHAR_SIZE + b"\x00" + C.BOLD + b"\x00")
        return b"".join(out)


def _band_image(image: Image.Image, top: int, limit: int) -> Image.Image | None:
    """The rows [top, limit) trimmed of trailing white rows and right white columns."""
    strip = image.crop((0, top, image.width, limit))
    bbox = ImageOps.invert(strip.convert("L")).getbbox()  # bbox of black dots
    if bbox is None:
        return None
    right = min(image.width, (bbox[2] + 7) // 8 * 8)
    return strip.crop((0, 0, right, bbox[3]))
