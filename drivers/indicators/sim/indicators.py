"""The cabinet in simulation: the real ``GpioIndicators`` on a private gpiozero MockFactory.

Like gpiozero's own tests, everything above the pins is the real code (gpiozero
devices, debounce, light and buzzer patterns); only this class holds the bench's
hands, ``simulation``, which drives the mock input pins and reads the outputs back.
"""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from drivers.indicators.gpio import GpioIndicators
from drivers.indicators.pins import GpioPins
from drivers.indicators.sim.cabinet import CabinetSimulation


class SimulatedIndicators(GpioIndicators):
    """Starts as a healthy cabinet (door shut, paper in), with no input history."""

    def __init__(self, pins: GpioPins, **settle: float) -> None:
        factory = MockFactory()
        super().__init__(pins, factory, close_factory=True, **settle)
        self.simulation = CabinetSimulation(factory, pins)
        self.simulation.healthy_cabinet()  # the pull-ups left door "open" and paper "low"
        for settled in (self.help_input, self.door_input, self.paper_input):
            settled.resync()
        self.simulation.clear_history()
