"""Which BCM pins the cabinet's parts hang on, and how they are wired."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LightKind(enum.StrEnum):
    RGB = "rgb"  # one RGB LED; amber is red + green
    TOWER = "tower"  # three LEDs (a stack light): red, amber, green


@dataclass(frozen=True)
class GpioPins:
    """BCM pin numbers. The defaults avoid I2C (2, 3), SPI (7-11) and the UART (14, 15),
    which the reader link and a display may need.

    Wiring the code assumes: LEDs and buzzer active-high unless told otherwise; the help
    button and door switch close to ground (internal pull-up); the door switch is closed
    while the door is shut, so a cut wire reads as "door open" and raises the alarm;
    the paper sensor pulls its line low while there is paper, so a cut wire reads
    as "paper low" rather than hiding an empty roll.
    """

    light_kind: LightKind = LightKind.RGB
    light_red: int = 17
    light_green: int = 27
    light_blue: int = 22  # RGB only
    light_amber: int = 22  # tower only
    light_active_high: bool = True  # False for a common-anode RGB LED
    buzzer: int = 18
    buzzer_active_high: bool = True
    help_button: int = 23
    door_switch: int = 24
    paper_low: int = 25

    def __post_init__(self) -> None:
        used = self.used()
        if len(set(used.values())) != len(used):
            raise ValueError(f"two parts share a GPIO pin: {used}")
        for part, pin in used.items():
            if not 0 <= pin <= 27:
                raise ValueError(f"{part} on GPIO{pin}: BCM pins on a Pi header are 0-27")

    def used(self) -> dict[str, int]:
        """The pins actually wired, by part name."""
        third = (
            {"light_blue": self.light_blue}
            if self.light_kind == LightKind.RGB
            else {"light_amber": self.light_amber}
        )
        return {
            "light_red": self.light_red,
            "light_green": self.light_green,
            **third,
            "buzzer": self.buzzer,
            "help_button": self.help_button,
            "door_switch": self.door_switch,
            "paper_low": self.paper_low,
        }
