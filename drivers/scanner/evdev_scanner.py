"""A HID keyboard-wedge scanner read through evdev, grabbed so it never types into the UI.

The device is named either by path (``/dev/input/by-id/usb-...-event-kbd``, which
survives re-enumeration; a glob such as ``/dev/input/by-id/*Honeywell*-event-kbd`` is
allowed if it matches exactly one device) or by the device name the kernel reports
(``evtest`` shows it; exact match preferred, else case-insensitive substring). With no
device given, the only ``/dev/input/by-id/*-event-kbd`` is used.

EVIOCGRAB makes this process the only reader of the device: without it every scan
would also arrive at the X/Wayland/SDL keyboard as typed text.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any, Protocol

from drivers.scanner import keymap
from drivers.scanner.burst import DEFAULT_RULES, BurstRules
from drivers.scanner.listener import RECONNECT_INTERVAL_S, ReaderScanner
from drivers.scanner.wedge import KeyEvent, WedgeDecoder

log = logging.getLogger(__name__)

BY_ID_KEYBOARDS = "/dev/input/by-id/*-event-kbd"
INPUT_DIR = "/dev/input"


class KeyEventSource(Protocol):
    """An open input device: events and the clock their timestamps use."""

    def read(self, timeout: float) -> list[KeyEvent]:
        """Events available within ``timeout``; OSError when the device is gone."""
        ...

    def now(self) -> float: ...

    def close(self) -> None: ...


class WedgeConnection:
    """One open device feeding the scanner's decoder."""

    def __init__(self, source: KeyEventSource, decoder: WedgeDecoder) -> None:
        self._source = source
        self._decoder = decoder

    def pump(self, timeout: float) -> list[str]:
        codes = self._decoder.feed_all(self._source.read(timeout))
        self._decoder.expire(self._source.now())
        return codes

    def close(self) -> None:
        self._decoder.reset("device closed")
        self._source.close()


def _import_evdev() -> Any:
    try:
        import evdev
    except ImportError as exc:  # pragma: no cover - evdev is installed where this runs
        raise RuntimeError(
            "the evdev scanner needs the 'evdev' package (Linux only): pip install evdev"
        ) from exc
    return evdev


class EvdevSource:
    """An ``evdev.InputDevice``, grabbed; timestamps are the kernel's CLOCK_REALTIME."""

    def __init__(self, device: Any) -> None:
        self._device = device

    @property
    def name(self) -> str:
        return str(self._device.name)

    def read(self, timeout: float) -> list[KeyEvent]:
        ready, _, _ = select.select([self._device.fd], [], [], timeout)
        if not ready:
            return []
        try:
            return [KeyEvent(e.timestamp(), e.type, e.code, e.value) for e in self._device.read()]
        except BlockingIOError:
            return []

    def now(self) -> float:
        return time.time()  # the clock evdev stamps events with unless EVIOCSCLOCKID

    def close(self) -> None:
        # Unplugged: the device is gone and the kernel dropped the grab with it.
        with contextlib.suppress(OSError):
            self._device.ungrab()
        self._device.close()


def _has_enter(device: Any, evdev: Any) -> bool:
    return keymap.KEY_ENTER in device.capabilities().get(evdev.ecodes.EV_KEY, [])


def find_device_path(spec: str | None) -> str:
    """Resolve a configured device (path, glob, name or None) to an event node path.

    Raises FileNotFoundError when nothing matches (the scanner may be unplugged) and
    OSError when the choice is ambiguous.
    """
    if spec is None or any(c in spec for c in "*?["):
        pattern = spec or BY_ID_KEYBOARDS
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise FileNotFoundError(errno.ENOENT, "no input device matches", pattern)
        if len(matches) > 1:
            raise OSError(errno.EEXIST, f"several input devices match: {', '.join(matches)}")
        return matches[0]
    if "/" in spec:
        if not os.path.exists(spec):
            raise FileNotFoundError(errno.ENOENT, "no such input device", spec)
        return spec
    return _find_by_name(spec)


def _find_by_name(name: str) -> str:
    evdev = _import_evdev()
    exact: list[str] = []
    partial: list[str] = []
    for path in sorted(evdev.list_devices(INPUT_DIR)):
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            if not _has_enter(device, evdev):
                continue  # the scanner's consumer-control or mouse node, not its keyboard
            if device.name == name:
                exact.append(path)
            elif name.casefold() in device.name.casefold():
                partial.append(path)
        finally:
            device.close()
    found = exact or partial
    if not found:
        raise FileNotFoundError(errno.ENOENT, "no keyboard input device named", name)
    return found[0]


def open_evdev_source(spec: str | None) -> EvdevSource:
    """Find, open and grab the device; OSError (EBUSY when someone else holds the grab)."""
    evdev = _import_evdev()
    path = find_device_path(spec)
    device = evdev.InputDevice(path)
    try:
        device.grab()
    except OSError:
        device.close()
        raise
    log.info("scanner: grabbed %s (%s)", path, device.name)
    return EvdevSource(device)


class EvdevScanner(ReaderScanner):
    """Keyboard-wedge scanner; ``open_source`` is replaceable so tests need no /dev/input."""

    def __init__(
        self,
        device: str | None,
        *,
        rules: BurstRules = DEFAULT_RULES,
        reconnect_interval: float = RECONNECT_INTERVAL_S,
        open_source: Callable[[], KeyEventSource] | None = None,
    ) -> None:
        if open_source is None:
            _import_evdev()  # fail now, with the install hint, not in the retry loop

            def open_source() -> KeyEventSource:
                return open_evdev_source(device)

        name = f"evdev scanner {device or BY_ID_KEYBOARDS}"
        self.decoder = WedgeDecoder(rules, source=name)
        opener = open_source
        super().__init__(
            name,
            lambda: WedgeConnection(opener(), self.decoder),
            reconnect_interval=reconnect_interval,
        )
