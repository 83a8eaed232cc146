"""A label as positioned blocks: the one thing every printer backend is given.

The same document is drawn to an image for raster printers and the on-screen
preview, or turned into native text and QR commands for printers that have
them. Widths follow a cell model shared by both paths: a CJK character is
``size`` dots wide, any other character ``size / 2``; layouts that fit the
model fit every backend.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: Text heights in dots that label printers draw natively (TSPL TSS16/TSS24 and
#: their doubles; ESC/POS 24-dot CJK and its double). Layouts use only these.
TEXT_SIZES = (16, 24, 32, 48)


@dataclass(frozen=True)
class TextBlock:
    x: int
    y: int
    text: str
    size: int = 24
    bold: bool = False

    def __post_init__(self) -> None:
        if self.size not in TEXT_SIZES:
            raise ValueError(f"text size {self.size} is not one of {TEXT_SIZES}")
        if "\n" in self.text:
            raise ValueError("a TextBlock is one line; lay out each line as its own block")

    @property
    def width(self) -> int:
        return text_width(self.text, self.size)


@dataclass(frozen=True)
class QrBlock:
    """A QR code whose top-left module starts at (x, y); the quiet zone lies outside."""

    x: int
    y: int
    data: str
    module: int  # dots per module
    error_level: str = "M"
    version: int = 0  # the version the layout measured; backends may verify it

    @property
    def size(self) -> int:
        return (17 + 4 * self.version) * self.module


@dataclass(frozen=True)
class Rule:
    """A filled rectangle: separators and frames."""

    x: int
    y: int
    width: int
    height: int


Block = TextBlock | QrBlock | Rule


@dataclass(frozen=True)
class LabelDocument:
    width: int  # dots
    height: int  # dots
    blocks: tuple[Block, ...]

    def texts(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, TextBlock)]

    def qr_codes(self) -> list[QrBlock]:
        return [b for b in self.blocks if isinstance(b, QrBlock)]


@lru_cache(maxsize=8192)
def char_cells(char: str) -> int:
    """Half-cells a character occupies: 2 for wide (CJK, full-width), 1 otherwise."""
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _cells(text: str) -> int:
    # Layout measures every field many times per label (a third of an issue's CPU).
    return len(text) if text.isascii() else sum(map(char_cells, text))


def text_width(text: str, size: int) -> int:
    return _cells(text) * size // 2


#: Characters that may not start a line (Chinese line-breaking rules, 避头点).
_NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)%")
_TOKEN = re.compile(r"[A-Za-z0-9'\-/.@]+|\s+|.", re.S)


def _tokens(text: str) -> list[str]:
    """Latin words stay whole; each CJK character is its own token; closing punctuation
    sticks to the token before it so it never starts a line."""
    out: list[str] = []
    for token in _TOKEN.findall(text):
        if out and token[0] in _NO_LINE_START and not out[-1].isspace():
            out[-1] += token
        else:
            out.append(token)
    return out


def wrap_text(text: str, size: int, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` under the cell model."""
    lines: list[str] = []
    line = ""
    cells = 0  # _cells(line), kept as the line grows
    for token in _tokens(text):
        token_cells = _cells(token)
        if (cells + token_cells) * size // 2 <= width:
            line += token
            cells += token_cells
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = "" if token.isspace() else token
        while text_width(line, size) > width:  # a word longer than a line: split it
            cut = len(line) - 1
            while cut > 1 and text_width(line[:cut], size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        cells = _cells(line)
    if line.strip():
        lines.append(line.rstrip())
    # No orphan: a paragraph never ends on one CJK character alone (符合要 / 求).
    if len(lines) > 1 and len(lines[-1]) == 1 and not lines[-1].isascii() and len(lines[-2]) > 2:
        lines[-2], lines[-1] = lines[-2][:-1], lines[-2][-1] + lines[-1]
    return lines
