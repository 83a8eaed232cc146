"""systemd's side of the notify protocol, for tests: a Unix datagram socket that
timestamps every message a process sends to ``NOTIFY_SOCKET``."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket that timestamps what arrives."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="notify-")
        self.path = str(Path(self.dir.name) / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def pings(self) -> list[float]:
        return [t for t, m in self.messages if "WATCHDOG=1" in m]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        self.dir.cleanup()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in m for _, m in self.messages):
                return True
            time.sleep(0.05)
        return False
