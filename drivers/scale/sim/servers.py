"""Serve a ScaleIndicator's stream over a real pty, so ``SerialScale`` reads a device path.

The pty's slave stands behind a stable symlink, as ``/dev/serial/by-id/...`` does on
the kiosk; ``unplug()`` closes the pty and removes the link, ``replug()`` makes a new
pty behind the same link, like a USB serial adapter re-enumerating.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import tty
from pathlib import Path

from drivers.scale.sim.scale import OUTPUT_INTERVAL_S, ScaleIndicator

log = logging.getLogger(__name__)


class PtyScaleServer:
    """Writes the indicator's bytes to the pty every ``interval`` while plugged in."""

    def __init__(
        self, indicator: ScaleIndicator, link: Path, *, interval: float = OUTPUT_INTERVAL_S
    ) -> None:
        self.indicator = indicator
        self.link = Path(link)
        self._interval = interval
        self._lock = threading.Lock()
        self._fds: tuple[int, int] | None = None
        self._stop = threading.Event()
        self.replug()
        self._thread = threading.Thread(target=self._run, name="sim-scale-pty", daemon=True)
        self._thread.start()

    def replug(self) -> None:
        """A new pty behind the link (the adapter plugged in again)."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation
        os.set_blocking(master, False)  # a full buffer (nobody reading) loses bytes, as a UART
        tmp = self.link.with_name(self.link.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)
        with self._lock:
            old, self._fds = self._fds, (master, slave)
        self._close_fds(old)

    def unplug(self) -> None:
        """The adapter is pulled: the device node goes away and reads fail."""
        with self._lock:
            old, self._fds = self._fds, None
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        self._close_fds(old)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=2)
        self.unplug()

    def __enter__(self) -> PtyScaleServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            data = self.indicator.next_bytes()
            with self._lock:
                if self._fds is None or not data:
                    continue
                try:
                    os.write(self._fds[0], data)
                except OSError as exc:  # nobody reading and the buffer full: bytes lost
                    log.debug("scale pty write failed: %s", exc)

    @staticmethod
    def _close_fds(fds: tuple[int, int] | None) -> None:
        for fd in fds or ():
            with contextlib.suppress(OSError):
                os.close(fd)
