"""Debouncing in our code, so it behaves the same on lgpio and on gpiozero's MockFactory.

gpiozero's ``bounce_time`` is handed to the pin driver; lgpio honours it but
``MockPin`` ignores it. A level is reported only once it has stayed put for
``settle_s`` after the last edge, on a timer thread, so callbacks never run inside the
GPIO library's own callback (nor inside a test's ``pin.drive_low()``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class SettledInput:
    """Reports settled changes of a boolean read by ``read()`` to ``on_change(value)``."""

    def __init__(
        self,
        name: str,
        read: Callable[[], bool],
        settle_s: float,
        on_change: Callable[[bool], None],
    ) -> None:
        self.name = name
        self._read = read
        self._settle_s = settle_s
        self._on_change = on_change
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self._value = read()

    @property
    def value(self) -> bool:
        """The last settled value (not the raw, possibly bouncing, level)."""
        with self._lock:
            return self._value

    def edge(self) -> None:
        """The raw level changed: (re)start the settle timer."""
        with self._lock:
            if self._closed:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._settle_s, self._settled)
            self._timer.name = f"settle:{self.name}"
            self._timer.daemon = True
            self._timer.start()

    def resync(self) -> None:
        """Take the current level as settled without reporting it (after setting up pins)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._value = self._read()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _settled(self) -> None:
        with self._lock:
            if self._closed or self._timer is not threading.current_thread():
                return  # a newer edge restarted the timer, or we are closing
            self._timer = None
            try:
                value = self._read()
            except Exception:
                log.exception("%s: reading the input failed", self.name)
                return
            changed = value != self._value
            self._value = value
        if changed:
            log.debug("%s: now %s", self.name, value)
            self._on_change(value)
