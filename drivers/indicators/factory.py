"""Opening the cabinet's GPIO parts: MockFactory in simulation, lgpio on a Pi."""

from __future__ import annotations

import logging
from typing import Any

from drivers.indicators.gpio import GpioIndicators
from drivers.indicators.pins import GpioPins

log = logging.getLogger(__name__)


class GpioUnavailableError(RuntimeError):
    """The real GPIO backend cannot be used here (no lgpio, or no GPIO chip)."""


def lgpio_factory(chip: int | None = None) -> Any:
    """gpiozero's lgpio pin factory, imported only when real GPIO is asked for."""
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as exc:
        raise GpioUnavailableError(
            "real GPIO needs the lgpio library: `apt install python3-lgpio` on Raspberry Pi OS "
            "(or `pip install lgpio`), or run the indicators simulated"
        ) from exc
    try:
        return LGPIOFactory(chip=chip)
    except Exception as exc:  # lgpio.error has no stable import path
        raise GpioUnavailableError(f"cannot open GPIO chip {chip or 'auto'}: {exc}") from exc


def open_indicators(
    pins: GpioPins | None = None,
    *,
    simulated: bool,
    chip: int | None = None,
) -> GpioIndicators:
    """Open the status light, buzzer, help button, door switch and paper sensor.

    simulated=True: a ``sim.SimulatedIndicators`` on a private ``MockFactory``; its
    ``simulation`` (a ``CabinetSimulation``) presses the button, opens the door, runs
    out of paper and reads back the light and buzzer pins. simulated=False: lgpio
    (``chip`` None lets lgpio pick the header's chip, which differs between the Pi 4
    and Pi 5).
    """
    pins = pins or GpioPins()
    if not simulated:
        return GpioIndicators(pins, lgpio_factory(chip), close_factory=True)
    from drivers.indicators.sim.indicators import SimulatedIndicators

    return SimulatedIndicators(pins)
