"""A simulated label/receipt printer: interprets ESC/POS or TSPL, prints to images.

Like gpiozero's MockFactory simulates pins rather than devices, this simulates the
printer's end of the wire: the real encoders' bytes arrive, status queries get the
bytes a real printer sends, and faults (paper out, cover open, offline) can be set now
or scheduled after N more labels, i.e. in the middle of a job.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from drivers.fonts import find_cjk_font
from drivers.printer import tspl_commands as T
from drivers.printer.profiles import PrinterProfile, get_profile

log = logging.getLogger(__name__)

#: Bits per byte on an 8N1 serial line (start + 8 data + stop).
BITS_PER_BYTE = 10


@dataclass
class PrintedLabel:
    """One label that came out of the printer."""

    image: Image.Image  # mode "1", black dots = 0
    texts: list[str] = field(default_factory=list)  # native text, decoded from GB18030
    qr_data: list[str] = field(default_factory=list)  # native QR contents
    rasters: int = 0  # raster images placed on it


class SimulatedPrinter:
    """The device. Thread-safe: a pty or TCP server thread may feed it."""

    def __init__(
        self,
        profile: PrinterProfile | str,
        *,
        font_path: Path | None = None,
        paper: int | None = None,
        baudrate: int | None = None,
        real_time: bool = False,
        print_time_s: float = 0.0,
    ) -> None:
        """``paper``: labels left on the roll (None = endless). ``baudrate``: count wire
        time for received bytes (``wire_time_s``), sleeping it too if ``real_time``.
        ``print_time_s``: how long each label keeps the TSPL "printing" bit set."""
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.font_path = find_cjk_font(font_path)
        self.baudrate = baudrate
        self.real_time = real_time
        self.print_time_s = print_time_s
        self.received = bytearray()
        self.labels: list[PrintedLabel] = []
        self.wire_time_s = 0.0
        self.paper_remaining = paper
        self._paper_end = paper == 0  # the sensor has seen the end of the roll
        self.cover_open = False
        self.offline = False
        self.paper_low = False
        self.error = False
        self._offline_after: int | None = None
        self._cover_after: int | None = None
        self._busy_until = 0.0
        self._lock = threading.RLock()
        self._interpreter = self._make_interpreter()

    def _make_interpreter(self):
        if self.profile.language == "tspl":
            from drivers.printer.sim.tspl_interp import TsplInterpreter

            return TsplInterpreter(self)
        from drivers.printer.sim.escpos_interp import EscposInterpreter

        return EscposInterpreter(self)

    # ---- controls -------------------------------------------------------------------
    def run_out_of_paper_after(self, labels: int) -> None:
        """``labels`` more labels print; the roll ends during the next one (paper end)."""
        with self._lock:
            self.paper_remaining = labels

    def load_paper(self, labels: int | None = None) -> None:
        """A new roll with ``labels`` on it (None = endless); 0 means an empty holder."""
        with self._lock:
            self.paper_remaining = labels
            self._paper_end = labels == 0

    def open_cover(self, after_labels: int | None = None) -> None:
        with self._lock:
            if after_labels is None:
                self.cover_open = True
            else:
                self._cover_after = after_labels

    def close_cover(self) -> None:
        with self._lock:
            self.cover_open = False
            self._cover_after = None

    def go_offline(self, after_labels: int | None = None) -> None:
        """Stop answering and drop whatever arrives (unplugged, powered off)."""
        with self._lock:
            if after_labels is None:
                self.offline = True
            else:
                self._offline_after = after_labels

    def go_online(self) -> None:
        with self._lock:
            self.offline = False
            self._offline_after = None

    def set_paper_low(self, low: bool = True) -> None:
        with self._lock:
            self.paper_low = low

    # ---- inspection -----------------------------------------------------------------
    @property
    def label_count(self) -> int:
        return len(self.labels)

    def label_images(self) -> list[Image.Image]:
        return [label.image for label in self.labels]

    @property
    def paper_out(self) -> bool:
        return self._paper_end

    @property
    def ready(self) -> bool:
        return not (self.paper_out or self.cover_open or self.offline or self.error)

    @property
    def printing(self) -> bool:
        return time.monotonic() < self._busy_until

    # ---- the wire -------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        """Bytes from the host; returns the bytes the printer sends back."""
        if self.baudrate:
            seconds = len(data) * BITS_PER_BYTE / self.baudrate
            self.wire_time_s += seconds
            if self.real_time:
                time.sleep(seconds)
        with self._lock:
            if self.offline:
                return b""
            self.received += data
            return self._interpreter.feed(data)

    # ---- called by the interpreters -------------------------------------------------
    def complete_label(self, label: PrintedLabel) -> bool:
        """The printer reached the end of a label: print it if it can. False if it failed."""
        if not self.ready:
            log.info("simulated printer dropped a label: not ready")
            return False
        if self.paper_remaining is not None:
            if self.paper_remaining <= 0:
                self._paper_end = True
                log.info("simulated printer ran out of paper mid-label")
                return False
            self.paper_remaining -= 1
        self.labels.append(label)
        self._busy_until = max(self._busy_until, time.monotonic()) + self.print_time_s
        for name in ("_offline_after", "_cover_after"):
            left = getattr(self, name)
            if left is not None:
                left -= 1
                setattr(self, name, left)
                if left <= 0:
                    setattr(self, name, None)
                    if name == "_offline_after":
                        self.offline = True
                    else:
                        self.cover_open = True
        return True

    def escpos_status(self, n: int) -> bytes:
        """DLE EOT n reply, as an ESC/POS printer sends it (bits 1 and 4 always set).

        Nothing once the printer went offline, even within the chunk of bytes that
        took it there (over a pty or socket a label and the next query arrive together).
        """
        if self.offline:
            return b""
        byte = 0x12
        if n == 1 and not self.ready:
            byte |= 0x08
        elif n == 2:
            byte |= 0x04 if self.cover_open else 0
            byte |= 0x20 if self.paper_out else 0
            byte |= 0x40 if self.error else 0
        elif n == 3:
            byte |= 0x20 if self.error else 0
        elif n == 4:
            byte |= 0x60 if self.paper_out else 0
            byte |= 0x0C if self.paper_low and not self.paper_out else 0
        return bytes((byte,))

    def tspl_status(self) -> bytes:
        """<ESC>!? reply byte; nothing once offline (see ``escpos_status``)."""
        if self.offline:
            return b""
        byte = 0
        byte |= T.ST_HEAD_OPEN if self.cover_open else 0
        byte |= T.ST_PAPER_OUT if self.paper_out else 0
        byte |= T.ST_OTHER_ERROR if self.error else 0
        byte |= T.ST_PRINTING if self.printing else 0
        return bytes((byte,))
