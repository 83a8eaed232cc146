"""Every ``Indicators`` wiring that can run here, on gpiozero's MockFactory.

As gpiozero tests its devices on mock pins, the cabinet runs its real code (gpiozero
devices, debounce, light and buzzer patterns) on a private MockFactory through
``SimulatedIndicators``; the backends are the wirings a cabinet may have:

- ``mock-rgb``: one RGB LED and the buzzer, active-high (the default pins).
- ``mock-rgb-active-low``: a common-anode RGB LED and a buzzer switched low.
- ``mock-tower``: a three-lamp stack light, active-low, amber on GPIO 5.

The rig reads the cabinet back at the pins' electrical levels, through the wiring,
so a polarity mistake shows as the wrong colour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from drivers.indicators.factory import open_indicators
from drivers.indicators.pins import GpioPins, LightKind
from drivers.indicators.sim.cabinet import CabinetSimulation
from drivers.indicators.sim.indicators import SimulatedIndicators

WIRINGS = {
    "mock-rgb": GpioPins(),
    "mock-rgb-active-low": GpioPins(light_active_high=False, buzzer_active_high=False),
    "mock-tower": GpioPins(light_kind=LightKind.TOWER, light_amber=5, light_active_high=False),
}
BACKENDS = tuple(WIRINGS)


@dataclass
class CabinetRig:
    backend: str
    indicators: SimulatedIndicators
    hands: CabinetSimulation
    pins: GpioPins

    def _on(self, part: str, active_high: bool) -> bool:
        return self.hands.level(part) == active_high

    def lit(self) -> set[str]:
        """The colours a person sees right now."""
        high = self.pins.light_active_high
        if self.pins.light_kind == LightKind.TOWER:
            lamps = ("red", "amber", "green")
            return {c for c in lamps if self._on(f"light_{c}", high)}
        red, green, blue = (self._on(f"light_{c}", high) for c in ("red", "green", "blue"))
        shown = {"amber"} if red and green else {"red"} if red else {"green"} if green else set()
        return shown | ({"blue"} if blue else set())

    def buzzing(self) -> bool:
        return self._on("buzzer", self.pins.buzzer_active_high)


def wait_for(predicate: Callable[[], object], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@contextmanager
def cabinet_rig(backend: str) -> Iterator[CabinetRig]:
    pins = WIRINGS[backend]
    indicators = open_indicators(pins, simulated=True)
    assert isinstance(indicators, SimulatedIndicators)
    with indicators:
        yield CabinetRig(backend, indicators, indicators.simulation, pins)
