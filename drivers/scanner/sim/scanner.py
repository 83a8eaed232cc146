"""A simulated keyboard-wedge scanner: types codes as key events into the real decoder path.

The technician screen, the UI in simulation and the tests call ``scan("...")``; a
typist thread turns the code into the key presses a US-layout wedge sends, at a
wedge's pace, and the same reader thread and ``WedgeDecoder`` as the evdev backend
decode them. Faults: ``scan(code, terminate=False)`` (a dropped Enter),
``scan_garbage()`` (a misread burst), ``unplug()``/``replug()``.
"""

from __future__ import annotations

import errno
import logging
import queue
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from drivers.scanner.burst import DEFAULT_RULES, BurstRules
from drivers.scanner.evdev_scanner import WedgeConnection
from drivers.scanner.keymap import KEYSTROKE_FOR
from drivers.scanner.listener import RECONNECT_INTERVAL_S, ReaderScanner
from drivers.scanner.wedge import KeyEvent, WedgeDecoder, keystrokes

log = logging.getLogger(__name__)

#: A real wedge types one character every 2-8 ms (USB HID polling plus its firmware).
WEDGE_CHAR_DELAY_S = (0.002, 0.008)

#: How long a scan waits for the simulated device to be connected (just after opening or
#: a replug) before it is lost, as a scan with the cable out would be.
_CONNECT_GRACE_S = 1.0

#: Printable characters a misread burst is made of.
_GARBAGE_ALPHABET = "".join(sorted(c for c in KEYSTROKE_FOR if c.isalnum()))


@dataclass(frozen=True)
class _Job:
    text: str
    terminate: bool


class _Done:
    """Marks the end of one job in the event queue."""


class _TypedEvents:
    """The simulated device node: events from the typist, monotonic timestamps."""

    def __init__(self, sim: SimulatedScanner) -> None:
        self._sim = sim
        self._finished_last_read = 0

    def read(self, timeout: float) -> list[KeyEvent]:
        # Jobs whose events the previous read returned are now decoded and delivered.
        self._sim._job_finished(self._finished_last_read)
        self._finished_last_read = 0
        if self._sim.unplugged:
            raise OSError(errno.ENODEV, "simulated scanner unplugged")
        events: list[KeyEvent] = []
        try:
            item = self._sim._events.get(timeout=timeout)
            while True:
                if isinstance(item, _Done):
                    self._finished_last_read += 1
                else:
                    events.append(item)
                item = self._sim._events.get_nowait()
        except queue.Empty:
            pass
        return events

    def now(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self._sim._job_finished(self._finished_last_read)
        self._finished_last_read = 0


class SimulatedScanner(ReaderScanner):
    """``char_delay``: (min, max) seconds between characters, or None to type instantly."""

    def __init__(
        self,
        *,
        char_delay: tuple[float, float] | None = WEDGE_CHAR_DELAY_S,
        rules: BurstRules = DEFAULT_RULES,
        pause_after_fault: float | None = None,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
        seed: int | None = None,
    ) -> None:
        self._char_delay = char_delay
        self._rng = random.Random(seed)
        #: After a burst without terminator, wait like a person re-aiming would, so the
        #: next code does not run into the garbage (set 0 to reproduce exactly that).
        self._pause_after_fault = (
            rules.interchar_timeout * 1.5 if pause_after_fault is None else pause_after_fault
        )
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._events: queue.Queue[KeyEvent | _Done] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self.unplugged = False
        self.decoder = WedgeDecoder(rules, source="simulated scanner")
        super().__init__("simulated scanner", self._plug_in, reconnect_interval=reconnect_interval)
        self._typist = threading.Thread(target=self._type, name="scanner:typist", daemon=True)
        self._typist.start()

    # -- controls ------------------------------------------------------------------

    def scan(self, code: str, *, terminate: bool = True) -> None:
        """Scan ``code`` (returns at once; the code arrives at ``on_scan`` shortly)."""
        for char in code:
            if char not in KEYSTROKE_FOR:
                raise ValueError(f"a US-layout wedge cannot type {char!r}")
        self._enqueue(_Job(code, terminate))

    def scan_garbage(self, length: int = 12) -> None:
        """A misread: a burst of random characters that never gets its terminator."""
        text = "".join(self._rng.choice(_GARBAGE_ALPHABET) for _ in range(length))
        self._enqueue(_Job(text, terminate=False))

    def unplug(self) -> None:
        """The cable comes out: reading fails, reopening fails until ``replug()``."""
        self.unplugged = True

    def replug(self) -> None:
        self.unplugged = False

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything scanned so far was typed and decoded (and delivered)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._jobs.put(None)
        super().close()
        if threading.current_thread() is not self._typist:
            self._typist.join(timeout=2)

    # -- internals -----------------------------------------------------------------

    def _plug_in(self) -> WedgeConnection:
        if self.unplugged:
            raise FileNotFoundError(errno.ENOENT, "simulated scanner unplugged")
        return WedgeConnection(_TypedEvents(self), self.decoder)

    def _enqueue(self, job: _Job) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put(job)

    def _job_finished(self, count: int) -> None:
        if count:
            with self._idle:
                self._pending -= count
                self._idle.notify_all()

    def _type(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not self.unplugged:
                self.connected.wait(_CONNECT_GRACE_S)  # a scan right after opening
            if self.unplugged or not self.connected.is_set():
                log.info("simulated scanner: not connected, the scan goes nowhere")
                self._job_finished(1)
                continue
            terminator = keystrokes("", 0.0)  # Enter's events, placed after the text
            for i, char in enumerate(job.text):
                if i and self._char_delay:
                    time.sleep(self._rng.uniform(*self._char_delay))
                self._put_events(keystrokes(char, 0.0, terminator=None))
            if job.terminate:
                if self._char_delay:
                    time.sleep(self._rng.uniform(*self._char_delay))
                self._put_events(terminator)
            self._events.put(_Done())
            if not job.terminate:
                time.sleep(self._pause_after_fault)

    def _put_events(self, events: Iterable[KeyEvent]) -> None:
        now = time.monotonic()
        for event in events:
            self._events.put(event._replace(timestamp=now))
