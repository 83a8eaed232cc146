"""Interprets TSPL like a 203-dpi label printer: CLS clears the buffer, PRINT n prints it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from drivers.printer import tspl_commands as T
from drivers.printer.sim.canvas import draw_qr, draw_text, paste_bits
from drivers.printer.sim.device import PrintedLabel

if TYPE_CHECKING:
    from drivers.printer.sim.device import SimulatedPrinter

log = logging.getLogger(__name__)


def split_args(raw: bytes) -> list[bytes | str]:
    """Comma-separated arguments; quoted ones come back as str (GB18030, ``\\["]`` unescaped)."""
    args: list[bytes | str] = []
    i = 0
    while i < len(raw):
        if raw[i : i + 1] == b'"':
            j = i + 1
            while True:
                if raw[j : j + 4] == b'\\["]':
                    j += 4
                elif raw[j : j + 1] == b'"' or j >= len(raw):
                    break
                else:
                    j += 1
            args.append(raw[i + 1 : j].replace(b'\\["]', b'"').decode("gb18030"))
            i = j + 1
        else:
            j = raw.find(b",", i)
            j = len(raw) if j < 0 else j
            args.append(raw[i:j].strip())
            i = j
        if raw[i : i + 1] == b",":
            i += 1
    return args


class TsplInterpreter:
    def __init__(self, device: SimulatedPrinter) -> None:
        self.device = device
        self.buffer = bytearray()
        profile = device.profile
        self.size = (profile.width, profile.height or 320)
        self._clear()

    def _clear(self) -> None:
        self.image = Image.new("1", self.size, 1)
        self.texts: list[str] = []
        self.qr_data: list[str] = []
        self.rasters = 0

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        replies = bytearray()
        while self.buffer:
            buf = bytes(self.buffer)
            if buf[:1] == b"\x1b":  # real-time <ESC>!x commands
                if len(buf) < 3:
                    break
                if buf[:3] == T.STATUS_QUERY:
                    replies += self.device.tspl_status()
                del self.buffer[:3]
                continue
            if buf.startswith(b"BITMAP"):
                used = self._bitmap(buf)
                if used == 0:
                    break
                del self.buffer[:used]
                continue
            end = buf.find(b"\n")
            if end < 0:
                break
            del self.buffer[: end + 1]
            line = buf[:end].rstrip(b"\r")
            if line:
                self._command(line)
        return bytes(replies)

    def _bitmap(self, buf: bytes) -> int:
        """BITMAP x,y,width_bytes,height,mode,<data>; returns bytes used, 0 if incomplete."""
        head_end = 0
        for _ in range(5):
            head_end = buf.find(b",", head_end) + 1
            if head_end == 0:
                return 0
        x, y, wb, h, _mode = (int(v) for v in buf[len(b"BITMAP") : head_end - 1].split(b","))
        end = head_end + wb * h
        if len(buf) < end + 2:
            return 0
        paste_bits(self.image, x, y, wb, h, buf[head_end:end], dark=0)
        self.rasters += 1
        return end + 2 if buf[end : end + 2] == T.CRLF else end

    def _command(self, line: bytes) -> None:
        word, _, rest = line.partition(b" ")
        args = split_args(rest)
        name = word.decode("ascii", errors="replace").upper()
        if name == "CLS":
            self._clear()
        elif name == "TEXT":
            x, y, font, _rot, xm, _ym, content = args[:7]
            size = T.SIZE_FOR_FONT.get(str(font), 24) * int(xm)
            draw_text(self.image, int(x), int(y), str(content), size, self.device.font_path)
            self.texts.append(str(content))
        elif name == "QRCODE":
            x, y, level, cell = args[:4]
            data = str(args[-1])
            draw_qr(self.image, int(x), int(y), data, int(cell), level.decode())  # type: ignore[union-attr]  # TSPL args: bytes here
            self.qr_data.append(data)
        elif name == "BAR":
            left, top, w, h = (int(v) for v in args[:4])
            ImageDraw.Draw(self.image).rectangle([left, top, left + w - 1, top + h - 1], fill=0)
        elif name == "PRINT":
            copies = int(args[0]) * (int(args[1]) if len(args) > 1 else 1)
            for _ in range(copies):
                label = PrintedLabel(
                    self.image.copy(), list(self.texts), list(self.qr_data), self.rasters
                )
                if not self.device.complete_label(label):
                    break
        elif name in (
            "SIZE",
            "GAP",
            "DIRECTION",
            "REFERENCE",
            "CODEPAGE",
            "SET",
            "DENSITY",
            "SPEED",
            "OFFSET",
            "SHIFT",
            "HOME",
        ):
            pass
        else:
            log.warning("simulated TSPL printer: unknown command %s", name)
