"""From bytes to the newest reading: line splitting, parsing, staleness. Shared by the
serial and the simulated scale so both go through exactly the same path."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from drivers.scale import Weight
from drivers.scale.protocol import ScaleLineError, parse_line

log = logging.getLogger(__name__)

#: A scale streams 5-20 readings a second. After a second of silence the cable, the
#: power or the scale's output mode is wrong: showing the last weight as if current
#: would let a farmer print a certificate for a crate no longer on the platform.
STALE_AFTER_S = 1.0

#: Longest line accepted (a reading is ~20 bytes); a longer run without line end is
#: noise, e.g. a baud-rate mismatch.
MAX_LINE_BYTES = 64

#: At most one "garbage dropped" log line per this many seconds: a wrong baud rate
#: would otherwise write ten warnings a second, for days.
GARBAGE_LOG_INTERVAL_S = 10.0


class LineSplitter:
    """Bytes in, complete lines out (CR, LF or CR LF); over-long runs are dropped."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max = max_line
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._overflow:
                    lines.append("\ufffd" * (self._max + 1))  # reported as garbage
                elif self._buf:
                    lines.append(self._buf.decode("ascii", errors="replace"))
                self._buf.clear()
                self._overflow = False
            elif not self._overflow:
                self._buf.append(byte)
                if len(self._buf) > self._max:
                    self._overflow = True
                    self._buf.clear()
        return lines

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False


class ReadingStore:
    """Keeps the newest reading; ``latest()`` is None once it is older than ``stale_after``."""

    def __init__(
        self,
        source: str,
        *,
        stale_after: float = STALE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self._source = source
        self._stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: Weight | None = None
        self._at = 0.0
        self._garbage_since_log = 0
        self._last_garbage_log: float | None = None
        #: Counters for diagnostics and tests.
        self.readings = 0
        self.garbage = 0
        self.overloads = 0

    def feed_line(self, line: str) -> None:
        try:
            weight = parse_line(line)
        except ScaleLineError as exc:
            self._count_garbage(exc)
            return
        now = self._clock()
        with self._lock:
            if weight is None:
                self.overloads += 1
                self._latest = None  # an overloaded platform has no weight to show
            else:
                self.readings += 1
                self._latest, self._at = weight, now
        if weight is None:
            log.warning("%s: overload", self._source)

    def latest(self) -> Weight | None:
        with self._lock:
            if self._latest is None or self._clock() - self._at > self._stale_after:
                return None
            return self._latest

    def _count_garbage(self, exc: ScaleLineError) -> None:
        now = self._clock()
        with self._lock:
            self.garbage += 1
            self._garbage_since_log += 1
            due = (
                self._last_garbage_log is None
                or now - self._last_garbage_log >= GARBAGE_LOG_INTERVAL_S
            )
            if due:
                count, self._garbage_since_log = self._garbage_since_log, 0
                self._last_garbage_log = now
        if due:
            log.warning("%s: dropped %d garbage line(s), latest: %s", self._source, count, exc)
