"""The status light: one RGB LED or a three-lamp tower, behind one ``show(state)``."""

from __future__ import annotations

from typing import Any, Protocol

from gpiozero import LED, RGBLED

from drivers.indicators import LightState
from drivers.indicators.patterns import BUSY_OFF_S, BUSY_ON_S
from drivers.indicators.pins import GpioPins, LightKind

#: (red, green, blue) lit per channel; amber on an RGB LED is red + green.
RED, AMBER, GREEN, DARK = (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 0)


class StatusLight(Protocol):
    def show(self, state: LightState) -> None: ...

    def lit(self) -> dict[str, bool]:
        """Which colours are lit right now (a blinking light is caught mid-blink)."""
        ...

    def close(self) -> None: ...


class RgbLight:
    """One RGB LED, digital channels (no PWM: three fixed colours need none)."""

    def __init__(self, pins: GpioPins, factory: Any) -> None:
        self._led = RGBLED(
            pins.light_red,
            pins.light_green,
            pins.light_blue,
            active_high=pins.light_active_high,
            pwm=False,
            pin_factory=factory,
        )

    def show(self, state: LightState) -> None:
        if state == LightState.BUSY:
            self._led.blink(on_time=BUSY_ON_S, off_time=BUSY_OFF_S, on_color=AMBER)
        else:
            self._led.color = {LightState.READY: GREEN, LightState.FAULT: RED}.get(state, DARK)

    def lit(self) -> dict[str, bool]:
        r, g, b = (bool(v) for v in self._led.value)
        return {"red": r and not g, "amber": r and g, "green": g and not r, "blue": b}

    def close(self) -> None:
        self._led.close()


class TowerLight:
    """Three lamps; exactly one is on (or blinking) at a time."""

    def __init__(self, pins: GpioPins, factory: Any) -> None:
        def lamp(pin: int) -> LED:
            return LED(pin, active_high=pins.light_active_high, pin_factory=factory)

        self._lamps = {
            "red": lamp(pins.light_red),
            "amber": lamp(pins.light_amber),
            "green": lamp(pins.light_green),
        }

    def show(self, state: LightState) -> None:
        wanted = {LightState.READY: "green", LightState.BUSY: "amber", LightState.FAULT: "red"}
        lit = wanted.get(state)
        for colour, lamp in self._lamps.items():
            if colour != lit:
                lamp.off()
        if state == LightState.BUSY:
            self._lamps["amber"].blink(on_time=BUSY_ON_S, off_time=BUSY_OFF_S)
        elif lit:
            self._lamps[lit].on()

    def lit(self) -> dict[str, bool]:
        return {colour: bool(lamp.is_lit) for colour, lamp in self._lamps.items()}

    def close(self) -> None:
        for lamp in self._lamps.values():
            lamp.close()


def make_light(pins: GpioPins, factory: Any) -> StatusLight:
    return (
        RgbLight(pins, factory) if pins.light_kind == LightKind.RGB else TowerLight(pins, factory)
    )
