"""Serve a SimulatedPrinter over a real pty or a loopback TCP socket, as on the kiosk.

The driver then opens ``/dev/pts/N`` with pyserial or connects to 127.0.0.1:port, and
every byte crosses a real file descriptor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import tty

from drivers.printer.sim.device import SimulatedPrinter

log = logging.getLogger(__name__)


class PtyPrinterServer:
    """A pty pair: the driver opens ``path``; a thread feeds the master side to the device."""

    def __init__(self, device: SimulatedPrinter) -> None:
        self.device = device
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: a binary line
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._feeding = threading.Lock()  # held while a chunk is read and interpreted
        self._thread = threading.Thread(target=self._run, name="sim-printer-pty", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            with self._feeding:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    return
                reply = self.device.receive(data)
                if reply:
                    os.write(self._master, reply)

    def wait_drained(self, timeout: float = 5.0) -> bool:
        """Wait until the device has read and handled every byte written so far.

        A write-only driver (a device file) returns once the kernel holds its bytes;
        this is how a test knows the printer has seen them.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._feeding:
                pending, _, _ = select.select([self._master], [], [], 0)
            if not pending:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPrinterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpPrinterServer:
    """Listens on ``host``:``port`` (0 = any free port) like a printer's raw port 9100."""

    def __init__(self, device: SimulatedPrinter, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.05)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="sim-printer-tcp", daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._client, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                reply = self.device.receive(data)
                if reply:
                    conn.sendall(reply)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._listener.close()
        self._accept.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> TcpPrinterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
