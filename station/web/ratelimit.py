"""The scan page's per-address rate limit: a fixed window per address, without threads.

``limits``' in-memory storage starts a new ``threading.Timer`` thread whenever its last
one ended (every 10 ms under steady traffic) and sweeps every key each time: about a
fifth of the scan page's server time in the profile (docs/station.md). This counter
keeps the same rule (``limit`` requests per window, the window starting at an address's
first request) and sweeps old addresses at most once per window, on a request.

An IPv6 line comes with a /64 of its own, so ``address_key`` counts the /64 as one
address (else each request could come from a fresh address and never be limited), and
the table holds at most ``max_keys`` addresses: a flood of distinct addresses within one
window evicts the oldest instead of growing the service's memory without bound.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Addresses tracked at once (an entry is ~200 bytes: 100,000 are ~20 MB).
MAX_KEYS = 100_000


def address_key(host: str) -> str:
    """The key a client address is counted under: IPv4 as is (IPv4-mapped IPv6 too),
    IPv6 by its /64, anything unparsable as given."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


class WindowLimiter:
    """At most ``limit`` hits per ``window_s`` per key; thread-safe."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("a rate limit needs limit >= 1, a positive window and room")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        #: key -> [window start, hits in that window]
        self._windows: OrderedDict[str, list[float]] = OrderedDict()
        self._swept_at = clock()

    def hit(self, key: str) -> bool:
        """Count one request for ``key``; False when it is over the limit."""
        now = self._clock()
        with self._lock:
            if now - self._swept_at >= self.window_s:
                self._sweep(now)
            window = self._windows.get(key)
            if window is None and len(self._windows) >= self.max_keys:
                self._windows.popitem(last=False)  # the oldest address goes (O(1))
            if window is None or now - window[0] >= self.window_s:
                self._windows[key] = [now, 1]
                self._windows.move_to_end(key)  # a new window: the newest entry
                return True
            window[1] += 1
            return window[1] <= self.limit

    def _sweep(self, now: float) -> None:
        """Forget keys whose window has ended (memory bounded by one window's keys)."""
        self._windows = OrderedDict(
            (k, w) for k, w in self._windows.items() if now - w[0] < self.window_s
        )
        self._swept_at = now

    def __len__(self) -> int:
        return len(self._windows)
