"""Interprets ESC/POS like a roll printer in standard mode; a cut ends a label."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PIL import Image

from drivers.printer import escpos_commands as C
from drivers.printer.document import char_cells
from drivers.printer.sim.canvas import draw_qr, draw_text, paste_bits
from drivers.printer.sim.device import PrintedLabel

if TYPE_CHECKING:
    from drivers.printer.sim.device import SimulatedPrinter

log = logging.getLogger(__name__)

DEFAULT_LINE_SPACING = 30  # ESC 2, about 1/6 inch at 203 dpi
CJK_CELL = 24  # resident CJK font height in dots
PAGE_CHUNK = 2048  # canvas grows in steps of this many rows

#: ESC x commands that take a fixed number of argument bytes and only change modes.
ESC_ARGS = {
    b"!": 1,
    b"-": 1,
    b"E": 1,
    b"G": 1,
    b"M": 1,
    b"a": 1,
    b"t": 1,
    b"R": 1,
    b"{": 1,
    b"V": 1,
    b" ": 1,
    b"d": 1,
    b"p": 3,
    b"c": 2,
}
GS_ARGS = {b"B": 1, b"H": 1, b"f": 1, b"h": 1, b"w": 1, b"L": 2, b"W": 2, b"a": 1}
FS_ARGS = {b"!": 1, b"-": 1, b"S": 2, b"W": 1}


class _NeedMore(Exception):
    """The buffer ends inside a command."""


class EscposInterpreter:
    def __init__(self, device: SimulatedPrinter) -> None:
        self.device = device
        self.buffer = bytearray()
        self._reset_page()
        self._reset_modes()

    def _reset_modes(self) -> None:
        self.chinese = False
        self.size_mult = (1, 1)
        self.bold = False
        self.line_spacing = DEFAULT_LINE_SPACING
        self.x = 0
        self.line: list[tuple[int, Image.Image | tuple[str, int, bool]]] = []
        self.line_height = 0
        self.qr: dict[str, Any] = {"module": 3, "level": "L", "data": b""}

    def _reset_page(self) -> None:
        self.page = Image.new("1", (self.device.profile.width, PAGE_CHUNK), 1)
        self.y = 0
        self.label = PrintedLabel(image=self.page)

    def _ensure_rows(self, bottom: int) -> None:
        if bottom > self.page.height:
            grown = Image.new("1", (self.page.width, bottom + PAGE_CHUNK), 1)
            grown.paste(self.page, (0, 0))
            self.page = grown

    # ---- stream ------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        replies = bytearray()
        while self.buffer:
            try:
                used, reply = self._step(bytes(self.buffer))
            except _NeedMore:
                break
            del self.buffer[:used]
            replies += reply
        return bytes(replies)

    @staticmethod
    def _need(buf: bytes, n: int) -> None:
        if len(buf) < n:
            raise _NeedMore

    def _step(self, buf: bytes) -> tuple[int, bytes]:
        """Execute the command at the start of ``buf``; returns (bytes used, reply)."""
        b = buf[:1]
        if b == C.DLE:
            self._need(buf, 3)
            if buf[1:2] == C.EOT:
                return 3, self.device.escpos_status(buf[2])
            return 1, b""
        if b == C.LF:
            self._print_line(advance=None)
            return 1, b""
        if b in (b"\r", b"\x00"):
            return 1, b""
        if b == C.ESC:
            return self._esc(buf), b""
        if b == C.GS:
            return self._gs(buf), b""
        if b == C.FS:
            return self._fs(buf), b""
        return self._text(buf), b""

    def _text(self, buf: bytes) -> int:
        end = 0
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        raw = buf[:end]
        if self.chinese:
            # A lead byte without its trail byte(s) yet: wait for more.
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                if end == len(buf):
                    raise _NeedMore from None
                text = raw.decode("gb18030", errors="replace")
        else:
            text = raw.decode("latin-1")  # what a single-byte code page shows for GB bytes
        size = CJK_CELL * self.size_mult[1]
        self.line.append((self.x, (text, size, self.bold)))
        self.label.texts.append(text)
        self.x += sum(char_cells(c) for c in text) * size // 2
        self.line_height = max(self.line_height, size)
        return end

    def _esc(self, buf: bytes) -> int:
        self._need(buf, 2)
        cmd = buf[1:2]
        if cmd == b"@":
            self._reset_modes()
            return 2
        if cmd == b"2":
            self.line_spacing = DEFAULT_LINE_SPACING
            return 2
        if cmd == b"3":
            self._need(buf, 3)
            self.line_spacing = buf[2]
            return 3
        if cmd == b"E":
            self._need(buf, 3)
            self.bold = bool(buf[2] & 1)
            return 3
        if cmd == b"$":
            self._need(buf, 4)
            self.x = buf[2] | buf[3] << 8
            return 4
        if cmd == b"J":
            self._need(buf, 3)
            self._print_line(advance=buf[2])
            return 3
        if cmd == b"*":
            self._need(buf, 5)
            m, width = buf[2], buf[3] | buf[4] << 8
            rows = 24 if m in (32, 33) else 8
            n = 5 + width * rows // 8
            self._need(buf, n)
            stripe = Image.new("1", (width, rows), 1)
            px = stripe.load()
            assert px is not None  # load() returns the pixel access of a loaded image
            for col in range(width):
                for r in range(rows):
                    byte = buf[5 + col * (rows // 8) + r // 8]
                    if byte >> (7 - r % 8) & 1:
                        px[col, r] = 0
            self.line.append((self.x, stripe))
            self.label.rasters += 1
            self.x += width
            self.line_height = max(self.line_height, rows)
            return n
        if cmd in ESC_ARGS:
            self._need(buf, 2 + ESC_ARGS[cmd])
            return 2 + ESC_ARGS[cmd]
        log.warning("simulated ESC/POS printer: unknown ESC %r", cmd)
        return 2

    def _gs(self, buf: bytes) -> int:
        self._need(buf, 2)
        cmd = buf[1:2]
        if cmd == b"!":
            self._need(buf, 3)
            self.size_mult = ((buf[2] >> 4) + 1, (buf[2] & 0x0F) + 1)
            return 3
        if cmd == b"V":
            self._need(buf, 3)
            n = 3
            if buf[2] in (65, 66):
                self._need(buf, 4)
                self._print_line(advance=buf[3])
                n = 4
            self._cut()
            return n
        if cmd == b"v":
            self._need(buf, 8)
            width_bytes, height = buf[4] | buf[5] << 8, buf[6] | buf[7] << 8
            n = 8 + width_bytes * height
            self._need(buf, n)
            self._print_line(advance=0)
            self._ensure_rows(self.y + height)
            paste_bits(self.page, 0, self.y, width_bytes, height, buf[8:n], dark=1)
            self.label.rasters += 1
            self.y += height
            self.x = 0
            return n
        if cmd in (b"(",):
            self._need(buf, 5)
            length = buf[3] | buf[4] << 8
            n = 5 + length
            self._need(buf, n)
            if buf[2:3] == b"k":
                self._qr(buf[5:n])
            return n
        if cmd in GS_ARGS:
            self._need(buf, 2 + GS_ARGS[cmd])
            return 2 + GS_ARGS[cmd]
        log.warning("simulated ESC/POS printer: unknown GS %r", cmd)
        return 2

    def _fs(self, buf: bytes) -> int:
        self._need(buf, 2)
        cmd = buf[1:2]
        if cmd == b"&":
            self.chinese = True
            return 2
        if cmd == b".":
            self.chinese = False
            return 2
        if cmd in FS_ARGS:
            self._need(buf, 2 + FS_ARGS[cmd])
            return 2 + FS_ARGS[cmd]
        log.warning("simulated ESC/POS printer: unknown FS %r", cmd)
        return 2

    def _qr(self, body: bytes) -> None:
        """GS ( k body after pL pH: cn fn [params]."""
        if body[:1] != b"1":  # cn 49 = QR; other symbologies ignored
            return
        fn = body[1]
        if fn == C.QR_FN_MODULE:
            self.qr["module"] = body[2]
        elif fn == C.QR_FN_ERROR:
            self.qr["level"] = "LMQH"[body[2] - 48]
        elif fn == C.QR_FN_STORE:
            self.qr["data"] = body[3:]  # after m = '0'
        elif fn == C.QR_FN_PRINT:
            self._print_line(advance=0)
            data = bytes(self.qr["data"]).decode("utf-8")
            module = int(self.qr["module"])
            self._ensure_rows(self.y + 200 * module)
            height = draw_qr(self.page, self.x, self.y, data, module, str(self.qr["level"]))
            self.label.qr_data.append(data)
            self.y += height
            self.x = 0

    def _print_line(self, advance: int | None) -> None:
        """Print the line buffer at y and feed: ``advance`` dots, or the line pitch (LF)."""
        height = self.line_height
        if self.line:
            self._ensure_rows(self.y + max(height, 1) + 64)
            for x, item in self.line:
                if isinstance(item, Image.Image):
                    self.page.paste(item, (x, self.y))
                else:
                    text, size, bold = item
                    draw_text(self.page, x, self.y, text, size, self.device.font_path, bold)
        if advance is None:
            advance = max(self.line_spacing, height) if self.line else self.line_spacing
        self.y += advance
        self.line, self.line_height, self.x = [], 0, 0

    def _cut(self) -> None:
        self._print_line(advance=0)
        self.label.image = self.page.crop((0, 0, self.page.width, max(self.y, 1)))
        self.device.complete_label(self.label)
        self._reset_page()
