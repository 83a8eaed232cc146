"""TSPL command words and the real-time status query, shared by encoder and simulator."""

from __future__ import annotations

CRLF = b"\r\n"
STATUS_QUERY = b"\x1b!?"  # <ESC>!?: answered at once with one status byte

#: Bits of the <ESC>!? reply byte (0x00 = ready).
ST_HEAD_OPEN = 0x01
ST_PAPER_JAM = 0x02
ST_PAPER_OUT = 0x04
ST_RIBBON_OUT = 0x08
ST_PAUSE = 0x10
ST_PRINTING = 0x20
ST_OTHER_ERROR = 0x80

#: Resident GB18030 fonts: TSS16.BF2 is 16x16 dots, TSS24.BF2 24x24 (ASCII half width).
FONT_16 = "TSS16.BF2"
FONT_24 = "TSS24.BF2"
FONT_FOR_SIZE = {16: (FONT_16, 1), 24: (FONT_24, 1), 32: (FONT_16, 2), 48: (FONT_24, 2)}
SIZE_FOR_FONT = {FONT_16: 16, FONT_24: 24}


def quote(text: str) -> bytes:
    """A TSPL string literal in GB18030: a double quote inside is written ``\\["]``."""
    return b'"' + text.encode("gb18030").replace(b'"', b'\\["]') + b'"'
