"""A simulated platform scale: its indicator's line stream, read through the real path.

``ScaleIndicator`` is the weighing indicator: ``place(kg)`` puts a load on the
platform, a few unstable readings swing towards the weight and settle, then it reports
it stable, as a real one does after the crate stops rocking. ``remove()`` takes it off.
Faults: ``go_silent()`` (cable pulled: readings go stale), ``send_garbage()``,
``overload()``. ``SimulatedScale`` reads its stream in-process through the same line
splitter, parser and staleness rules as ``SerialScale``; ``sim.servers.PtyScaleServer``
puts it behind a real pty for ``SerialScale`` itself.
"""

from __future__ import annotations

import logging
import random
import threading
from decimal import Decimal

from drivers.scale import Scale, Weight
from drivers.scale.protocol import format_line
from drivers.scale.readings import STALE_AFTER_S, LineSplitter, ReadingStore

log = logging.getLogger(__name__)

#: Readings per second of a typical indicator in continuous mode (10 Hz).
OUTPUT_INTERVAL_S = 0.1
#: Unstable readings after a load is placed before the indicator calls it stable
#: (about half a second at 10 Hz).
SETTLE_READINGS = 5
#: How much of the remaining swing each unstable reading keeps.
SWING_DECAY = 0.4
#: Noise on unstable readings, in kg (a crate rocking on the load cell).
NOISE_KG = 0.02
#: The display resolution (one division) of a 30 kg retail platform scale.
DIVISION_KG = Decimal("0.01")


class ScaleIndicator:
    """What the scale's indicator sends next; thread-safe (the controls come from tests)."""

    def __init__(
        self,
        *,
        settle_readings: int = SETTLE_READINGS,
        noise_kg: float = NOISE_KG,
        unit: str = "kg",
        seed: int | None = None,
    ) -> None:
        format_line(Weight(Decimal(0), True), unit=unit)  # reject a bad unit now
        self._settle_readings = settle_readings
        self._noise = noise_kg
        self._unit = unit
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._target = Decimal(0)
        self._shown = Decimal(0)
        self._unstable_left = 0
        self._silent = False
        self._overloaded = False
        self._extra: list[bytes] = []
        self.lines_sent = 0

    # -- controls ------------------------------------------------------------------

    def place(self, kilograms: Decimal | str | float) -> None:
        """Put a load on the platform (the total load, not an increment)."""
        with self._lock:
            self._target = Decimal(str(kilograms))
            self._unstable_left = self._settle_readings
            self._overloaded = False

    def remove(self) -> None:
        self.place(0)

    def overload(self) -> None:
        """More than the platform's capacity: the scale reports OL until ``place()``."""
        with self._lock:
            self._overloaded = True

    def go_silent(self, silent: bool = True) -> None:
        """Stop (or resume) the stream, as a pulled cable or a power cut would."""
        with self._lock:
            self._silent = silent

    def send_garbage(self, data: bytes = b"\x00\xffST,G?,++12.5kq\r\n") -> None:
        """Inject raw bytes (noise, a half line) into the stream."""
        with self._lock:
            self._extra.append(data)

    # -- the wire ------------------------------------------------------------------

    def next_bytes(self) -> bytes:
        """The bytes of one output interval: a reading line, plus any injected bytes."""
        with self._lock:
            extra, self._extra = b"".join(self._extra), []
            if self._silent:
                return extra
            self.lines_sent += 1
            if self._overloaded:
                return extra + b"OL,GS,+9999.99kg\r\n"
            if self._unstable_left > 0:
                self._unstable_left -= 1
                swing = (self._shown - self._target) * Decimal(str(SWING_DECAY))
                noise = Decimal(str(self._rng.uniform(-self._noise, self._noise)))
                self._shown = (self._target + swing + noise).quantize(DIVISION_KG)
                weight = Weight(self._shown, stable=False)
            else:
                self._shown = self._target.quantize(DIVISION_KG)
                weight = Weight(self._shown, stable=True)
            line = format_line(weight, unit=self._unit)
        return extra + line.encode("ascii") + b"\r\n"


class SimulatedScale(Scale):
    """A scale whose indicator's stream is read in-process; the controls are its indicator's."""

    def __init__(
        self,
        *,
        interval: float = OUTPUT_INTERVAL_S,
        settle_readings: int = SETTLE_READINGS,
        noise_kg: float = NOISE_KG,
        unit: str = "kg",
        stale_after: float = STALE_AFTER_S,
        seed: int | None = None,
    ) -> None:
        self.indicator = ScaleIndicator(
            settle_readings=settle_readings, noise_kg=noise_kg, unit=unit, seed=seed
        )
        self.store = ReadingStore("simulated scale", stale_after=stale_after)
        self._splitter = LineSplitter()
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="scale:simulated", daemon=True)
        self._thread.start()

    # -- controls (the indicator's) --------------------------------------------------

    def place(self, kilograms: Decimal | str | float) -> None:
        """Put a load on the platform (the total load, not an increment)."""
        self.indicator.place(kilograms)

    def remove(self) -> None:
        self.indicator.remove()

    def overload(self) -> None:
        self.indicator.overload()

    def go_silent(self, silent: bool = True) -> None:
        self.indicator.go_silent(silent)

    def send_garbage(self, data: bytes = b"\x00\xffST,G?,++12.5kq\r\n") -> None:
        self.indicator.send_garbage(data)

    @property
    def lines_sent(self) -> int:
        return self.indicator.lines_sent

    # -- the seam ------------------------------------------------------------------

    def latest(self) -> Weight | None:
        return self.store.latest()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    # -- internals -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for line in self._splitter.feed(self.indicator.next_bytes()):
                self.store.feed_line(line)
