"""The simulated MCU's UART: a real pty in raw mode, paced at the line rate, with faults.

Bytes move at baudrate/10 bytes per second both ways (start + 8 data + stop bits).
Bit errors and dropped bytes are injected on both directions; an unplug closes the
pty and removes the stable symlink, a replug makes a new pty behind the same link.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

BITS_PER_BYTE = 10
PACE_SLICE_S = 0.002  # bytes are moved in slices of this much line time
# A pacing loop that wakes late (a loaded machine, the GIL) catches up on at most this
# much line time, so the simulated UART keeps its baud rate instead of drifting below
# it, while a burst written to an idle line still arrives paced.
MAX_LATE_S = 0.02


class LineNoise:
    """Bit flips and byte drops at set rates, drawn with geometric gaps (cheap per byte)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.bit_error_rate = 0.0
        self.drop_rate = 0.0
        self.flipped_bits = 0
        self.dropped_bytes = 0

    def _gap(self, rate: float) -> float:
        return self._rng.expovariate(rate) if rate > 0 else float("inf")

    def apply(self, data: bytes) -> bytes:
        if self.bit_error_rate <= 0 and self.drop_rate <= 0:
            return data
        buf = bytearray(data)
        pos = self._gap(self.bit_error_rate)
        while pos < len(buf) * 8:
            bit = int(pos)
            buf[bit // 8] ^= 1 << (bit % 8)
            self.flipped_bits += 1
            pos += 1 + self._gap(self.bit_error_rate)
        if self.drop_rate > 0:
            out = bytearray()
            for b in buf:
                if self._rng.random() < self.drop_rate:
                    self.dropped_bytes += 1
                else:
                    out.append(b)
            buf = out
        return bytes(buf)


class PtyPort:
    """One end of a pty standing in for the MCU's UART behind a stable symlink."""

    def __init__(
        self,
        link_path: Path,
        baudrate: int,
        on_bytes: Callable[[bytes], None],
        rng: random.Random,
    ) -> None:
        self.link_path = Path(link_path)
        self.baudrate = baudrate
        self.noise = LineNoise(rng)
        self._on_bytes = on_bytes
        self._byte_time = BITS_PER_BYTE / baudrate
        self._slice = max(1, int(PACE_SLICE_S / self._byte_time))
        self._tx: deque[bytes] = deque()
        self._tx_cond = threading.Condition()
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._plugged = False
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self._plug()
        for name, target in (("uart-rx", self._rx_loop), ("uart-tx", self._tx_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stopping = True
        with self._tx_cond:
            self._tx_cond.notify_all()
        self._unplug()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        tmp = self.link_path.with_name(self.link_path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link_path)
        with self._lock:
            self._master, self._slave, self._plugged = master, slave, True
        log.info("pty %s -> %s", self.link_path, os.ttyname(slave))

    def _unplug(self) -> None:
        with self._lock:
            master, slave, self._plugged = self._master, self._slave, False
            self._master = self._slave = -1
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        for fd in (master, slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def unplug(self, seconds: float, on_replug: Callable[[], None]) -> None:
        """Pull the cable: the pty disappears, and comes back after `seconds`."""
        log.warning("unplug for %.2f s", seconds)
        self._unplug()
        self.flush_tx()

        def replug() -> None:
            time.sleep(seconds)
            if not self._stopping:
                self._plug()
                on_replug()

        threading.Thread(target=replug, name="replug", daemon=True).start()

    # -- transmit -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        with self._tx_cond:
            self._tx.append(data)
            self._tx_cond.notify()

    def flush_tx(self) -> None:
        """Bytes not yet on the wire are lost (the MCU reset its UART)."""
        with self._tx_cond:
            self._tx.clear()

    def _next_tx_slice(self, limit: int) -> bytes | None:
        with self._tx_cond:
            while not self._tx and not self._stopping:
                self._tx_cond.wait(0.1)
            if self._stopping:
                return None
            head = self._tx.popleft()
            if len(head) > limit:
                self._tx.appendleft(head[limit:])
                head = head[:limit]
            return head

    def _late_bytes(self, clock: float, now: float) -> int:
        """Bytes the line would have moved while this loop was late (bounded)."""
        return int(min(MAX_LATE_S, max(0.0, now - clock)) / self._byte_time)

    def _tx_loop(self) -> None:
        clock = time.monotonic()
        while True:
            chunk = self._next_tx_slice(self._slice + self._late_bytes(clock, time.monotonic()))
            if chunk is None:
                return
            now = time.monotonic()
            clock = max(clock, now - MAX_LATE_S) + len(chunk) * self._byte_time
            data = self.noise.apply(chunk)
            with self._lock:
                fd = self._master if self._plugged else -1
            if fd >= 0 and data:
                # Like a UART with nobody listening: what does not fit is lost.
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(fd, data)
            delay = clock - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    # -- receive ------------------------------------------------------------
    def _rx_loop(self) -> None:
        clock = time.monotonic()
        while not self._stopping:
            with self._lock:
                fd = self._master if self._plugged else -1
            if fd < 0:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(fd, self._slice + self._late_bytes(clock, time.monotonic()))
            except BlockingIOError:
                continue
            except OSError as exc:  # closed under us by an unplug, or EIO
                if exc.errno not in (errno.EBADF, errno.EIO):
                    log.warning("pty read failed: %s", exc)
                time.sleep(0.01)
                continue
            if not data:
                continue
            now = time.monotonic()
            clock = max(clock, now - MAX_LATE_S) + len(data) * self._byte_time
            delay = clock - now
            if delay > 0:
                time.sleep(delay)
            data = self.noise.apply(data)
            if data:
                self._on_bytes(data)
