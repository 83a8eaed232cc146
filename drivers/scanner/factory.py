"""Choosing a scanner backend is configuration: ``open_barcode_scanner(kind=...)``."""

from __future__ import annotations

from drivers.scanner import BarcodeScanner
from drivers.scanner.burst import BurstRules

KINDS = ("simulated", "evdev", "serial")


def open_barcode_scanner(
    kind: str,
    *,
    device: str | None = None,
    baudrate: int = 9600,
    rules: BurstRules | None = None,
) -> BarcodeScanner:
    """Open the scanner; it reconnects by itself when unplugged and plugged back in.

    kind="evdev": ``device`` is a ``/dev/input/by-id/...-event-kbd`` path (a glob is
    fine if it matches one device) or the kernel's device name; None takes the only
    ``*-event-kbd`` device. kind="serial": ``device`` is the port, preferably
    ``/dev/serial/by-id/usb-...``. kind="simulated": ``device`` is ignored; the
    returned ``SimulatedScanner`` has ``scan(code)``.
    """
    rules = rules or BurstRules()
    if kind == "simulated":
        from drivers.scanner.sim.scanner import SimulatedScanner

        return SimulatedScanner(rules=rules)
    if kind == "evdev":
        from drivers.scanner.evdev_scanner import EvdevScanner

        return EvdevScanner(device, rules=rules)
    if kind == "serial":
        if not device:
            raise ValueError("a serial scanner needs device=, e.g. /dev/serial/by-id/usb-...")
        if baudrate <= 0:
            raise ValueError("baudrate must be positive")
        from drivers.scanner.serial_scanner import SerialScanner

        return SerialScanner(device, baudrate=baudrate, rules=rules)
    raise ValueError(f"scanner kind {kind!r} is not one of {', '.join(KINDS)}")
