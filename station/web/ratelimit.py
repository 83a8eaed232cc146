"""The scan page's per-address rate limit: a fixed window per address, without threads.

``limits``' in-memory storage starts a new ``threading.Timer`` thread whenever its last
one ended (every 10 ms under steady traffic) and sweeps every key each time: about a
fifth of the scan page's server time in the profile (docs/station.md). This counter
keeps the same rule (``limit`` requests per window, the window starting at an address's
first request) and sweeps old addresses at most once per window, on a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WindowLimiter:
    """At most ``limit`` hits per ``window_s`` per key; thread-safe."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        #: key -> [window start, hits in that window]
        self._windows: dict[str, list[float]] = {}
        self._swept_at = clock()

    def hit(self, key: str) -> bool:
        """Count one request for ``key``; False when it is over the limit."""
        now = self._clock()
        with self._lock:
            if now - self._swept_at >= self.window_s:
                self._sweep(now)
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.window_s:
                self._windows[key] = [now, 1]
                return True
            window[1] += 1
            return window[1] <= self.limit

    def _sweep(self, now: float) -> None:
        """Forget keys whose window has ended (memory bounded by one window's keys)."""
        self._windows = {k: w for k, w in self._windows.items() if now - w[0] < self.window_s}
        self._swept_at = now

    def __len__(self) -> int:
        return len(self._windows)
