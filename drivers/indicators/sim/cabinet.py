"""Hands on a simulated cabinet: drives the MockFactory's input pins like the real parts.

The technician's hardware-check screen and the tests use this; the kiosk's business
code never sees it (it only holds an ``Indicators``).
"""

from __future__ import annotations

import time
from typing import Any

from gpiozero.pins.mock import MockFactory, PinState

from drivers.indicators.pins import GpioPins

#: How long a person holds the help button: longer than the debounce settle time.
HUMAN_PRESS_S = 0.15


class CabinetSimulation:
    """Input pins are driven at their electrical level, so debounce and wiring polarity
    are exercised exactly as on the Pi: button and door switch pull to ground when
    closed, the paper sensor pulls low while paper is there."""

    def __init__(self, factory: MockFactory, pins: GpioPins) -> None:
        self.factory = factory
        self.pins = pins

    def pin(self, part: str) -> Any:
        """The MockPin of a part named as in ``GpioPins.used()`` (e.g. ``"buzzer"``)."""
        return self.factory.pin(self.pins.used()[part])

    def healthy_cabinet(self) -> None:
        """Door shut, paper in, nobody at the button: the state a cabinet starts in."""
        self.pin("help_button").drive_high()
        self.pin("door_switch").drive_low()
        self.pin("paper_low").drive_low()

    # -- inputs --------------------------------------------------------------------

    def hold_help(self) -> None:
        self.pin("help_button").drive_low()

    def release_help(self) -> None:
        self.pin("help_button").drive_high()

    def press_help(self, hold_s: float = HUMAN_PRESS_S) -> None:
        """Press and release like a person (blocks ``hold_s``)."""
        self.hold_help()
        time.sleep(hold_s)
        self.release_help()

    def bounce_help(self, edges: int = 6) -> None:
        """Contact bounce: a few very fast edges ending pressed (edges even: released)."""
        pin = self.pin("help_button")
        for i in range(edges):
            (pin.drive_low if i % 2 == 0 else pin.drive_high)()

    def open_door(self) -> None:
        self.pin("door_switch").drive_high()

    def close_door(self) -> None:
        self.pin("door_switch").drive_low()

    def set_paper_low(self, low: bool = True) -> None:
        pin = self.pin("paper_low")
        (pin.drive_high if low else pin.drive_low)()

    # -- outputs -------------------------------------------------------------------

    def level(self, part: str) -> bool:
        """The electrical level of an output (or input) pin right now."""
        return bool(self.pin(part).state)

    def history(self, part: str) -> list[PinState]:
        """The pin's level changes (``timestamp`` is seconds since the previous change)."""
        return list(self.pin(part).states)

    def clear_history(self) -> None:
        for part in self.pins.used():
            self.pin(part).clear_states()
