"""Every ``BarcodeScanner`` backend that can run here, each with a hand on the trigger.

- ``simulated``: ``SimulatedScanner``, a wedge typing key events at a wedge's pace.
- ``serial-pty``: ``SerialScanner`` on a real pty behind a by-id style link; the hand
  writes the scanner's bytes (code + CR LF) into the pty.
- ``evdev-keys``: ``EvdevScanner`` through its decoder path on ``KeyboardStandIn``, a
  grabbed input node's events from a queue, because there is no uinput here
  (/dev/uinput is absent and the kernel has no uinput module), so evdev itself cannot
  be fed; the events are the ones a US-layout wedge sends.
"""

from __future__ import annotations

import errno
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from drivers.scanner.burst import BurstRules
from drivers.scanner.evdev_scanner import EvdevScanner
from drivers.scanner.keymap import KEY_ENTER
from drivers.scanner.listener import ReaderScanner
from drivers.scanner.serial_scanner import SerialScanner
from drivers.scanner.sim.scanner import SimulatedScanner
from drivers.scanner.wedge import KeyEvent, keystrokes
from support.pty import Pty

BACKENDS = ("simulated", "serial-pty", "evdev-keys")
FAST = 0.05  # reconnect interval for tests: replugs are noticed at once
RULES = BurstRules(interchar_timeout=0.1)
#: How long a person takes to re-aim after a misread (past the inter-character timeout).
REAIM_S = RULES.interchar_timeout * 1.5


class KeyboardStandIn:
    """A grabbed /dev/input/event* node: a queue of key events, then ENODEV when pulled."""

    def __init__(self) -> None:
        self.events: queue.Queue[KeyEvent | None] = queue.Queue()
        self.closed = False

    def type(self, text: str, *, enter: bool = True) -> None:
        terminator = KEY_ENTER if enter else None
        for event in keystrokes(text, time.monotonic(), 0.003, terminator=terminator):
            self.events.put(event)

    def pull_cable(self) -> None:
        self.events.put(None)

    def read(self, timeout: float) -> list[KeyEvent]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return []
        if event is None:
            raise OSError(errno.ENODEV, "No such device")
        return [event]

    def now(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self.closed = True


@dataclass
class ScannerRig:
    backend: str
    scanner: ReaderScanner
    link: Path | None = None
    pty: Pty | None = None
    plugged: queue.Queue[KeyboardStandIn] = field(default_factory=queue.Queue)
    keyboard: KeyboardStandIn | None = None

    def wait_connected(self, timeout: float = 3.0) -> None:
        assert self.scanner.connected.wait(timeout), f"{self.backend} never connected"

    def scan(self, code: str, *, terminate: bool = True) -> None:
        """Pull the trigger on ``code``; ``terminate=False`` loses its Enter (a misread)."""
        if isinstance(self.scanner, SimulatedScanner):
            self.scanner.scan(code, terminate=terminate)  # it re-aims by itself
            return
        if self.pty is not None:
            self.pty.write(code.encode("ascii") + (b"\r\n" if terminate else b""))
        else:
            assert self.keyboard is not None
            self.keyboard.type(code, enter=terminate)
        if not terminate:
            time.sleep(REAIM_S)

    def settle(self) -> None:
        """Wait until everything scanned so far has been decoded."""
        if isinstance(self.scanner, SimulatedScanner):
            assert self.scanner.wait_idle(3)
        else:
            time.sleep(REAIM_S + 0.1)

    def unplug(self) -> None:
        if isinstance(self.scanner, SimulatedScanner):
            self.scanner.unplug()
        elif self.pty is not None:
            self.pty.unplug()
        else:
            assert self.keyboard is not None
            self.keyboard.pull_cable()
        deadline = time.monotonic() + 3
        while self.scanner.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.scanner.connected.is_set(), "the scanner did not notice the unplug"

    def replug(self) -> None:
        if isinstance(self.scanner, SimulatedScanner):
            self.scanner.replug()
        elif self.link is not None:
            self.pty = Pty(self.link)  # a new tty behind the same by-id link
        else:
            self.keyboard = KeyboardStandIn()
            self.plugged.put(self.keyboard)
        self.wait_connected()

    def close(self) -> None:
        self.scanner.close()
        if self.pty is not None:
            self.pty.unplug()


@contextmanager
def scanner_rig(backend: str, tmp_path: Path) -> Iterator[ScannerRig]:
    if backend == "simulated":
        rig = ScannerRig(backend, SimulatedScanner(rules=RULES, reconnect_interval=FAST, seed=1))
    elif backend == "serial-pty":
        link = tmp_path / "usb-Scanner_1234-if00"
        pty = Pty(link)
        scanner = SerialScanner(str(link), rules=RULES, reconnect_interval=FAST)
        rig = ScannerRig(backend, scanner, link=link, pty=pty)
    elif backend == "evdev-keys":
        plugged: queue.Queue[KeyboardStandIn] = queue.Queue()
        keyboard = KeyboardStandIn()
        plugged.put(keyboard)

        def open_source() -> KeyboardStandIn:
            try:
                return plugged.get_nowait()
            except queue.Empty:
                raise FileNotFoundError(errno.ENOENT, "no such input device") from None

        scanner = EvdevScanner(
            "Wedge Stand-in", rules=RULES, open_source=open_source, reconnect_interval=FAST
        )
        rig = ScannerRig(backend, scanner, plugged=plugged, keyboard=keyboard)
    else:
        raise ValueError(f"no scanner backend {backend!r}")
    try:
        rig.wait_connected()
        yield rig
    finally:
        rig.close()
