"""``Indicators`` over gpiozero devices; the pin factory decides whether they are real."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpiozero import Button, Buzzer, DigitalInputDevice

from drivers.indicators import BuzzerPattern, Indicators, LightState
from drivers.indicators.debounce import SettledInput
from drivers.indicators.light import make_light
from drivers.indicators.patterns import (
    BUTTON_SETTLE_S,
    BUZZER_PATTERNS,
    DOOR_SETTLE_S,
    PAPER_SETTLE_S,
)
from drivers.indicators.pins import GpioPins

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndicatorSnapshot:
    """What the cabinet shows and senses right now (the technician's hardware check)."""

    light: LightState
    lit: dict[str, bool]
    buzzer_on: bool
    help_pressed: bool
    door_open: bool
    paper_low: bool


class GpioIndicators(Indicators):
    """The status light, buzzer, help button, door switch and paper sensor.

    Every gpiozero device gets ``pin_factory`` explicitly, so a simulated and a real
    cabinet (or two simulated ones in one test run) never share the global factory.
    Registering a callback replaces the previous one, as gpiozero's ``when_pressed``
    does. Callbacks run on a debounce timer thread; an exception in one is logged.
    """

    def __init__(
        self,
        pins: GpioPins,
        pin_factory: Any,
        *,
        close_factory: bool = False,
        button_settle_s: float = BUTTON_SETTLE_S,
        door_settle_s: float = DOOR_SETTLE_S,
        paper_settle_s: float = PAPER_SETTLE_S,
    ) -> None:
        self.pins = pins
        self.pin_factory = pin_factory
        self._close_factory = close_factory
        self._lock = threading.RLock()
        self._closed = False
        self._light_state = LightState.OFF
        self._on_help: Callable[[], None] | None = None
        self._on_door: Callable[[bool], None] | None = None
        self._devices: list[Any] = []
        try:
            self._light = make_light(pins, pin_factory)
            self._devices.append(self._light)
            self._buzzer = self._own(
                Buzzer(pins.buzzer, active_high=pins.buzzer_active_high, pin_factory=pin_factory)
            )
            # bounce_time reaches lgpio's own debounce; SettledInput does it everywhere.
            self._button = self._own(
                Button(
                    pins.help_button,
                    pull_up=True,
                    bounce_time=button_settle_s,
                    pin_factory=pin_factory,
                )
            )
            self._door = self._own(
                DigitalInputDevice(pins.door_switch, pull_up=True, pin_factory=pin_factory)
            )
            self._paper = self._own(
                DigitalInputDevice(pins.paper_low, pull_up=True, pin_factory=pin_factory)
            )
        except Exception:
            self._close_devices()
            raise
        # With pull-ups, gpiozero's is_active means "line pulled low".
        self.help_input = SettledInput(
            "help button", lambda: self._button.is_pressed, button_settle_s, self._help_changed
        )
        self.door_input = SettledInput(
            "door switch", lambda: not self._door.is_active, door_settle_s, self._door_changed
        )
        self.paper_input = SettledInput(
            "paper sensor", lambda: not self._paper.is_active, paper_settle_s, self._paper_changed
        )
        for device, settled in (
            (self._button, self.help_input),
            (self._door, self.door_input),
            (self._paper, self.paper_input),
        ):
            device.when_activated = settled.edge
            device.when_deactivated = settled.edge

    # -- the seam ------------------------------------------------------------------

    def set_light(self, state: LightState) -> None:
        with self._lock:
            if self._closed:
                return
            self._light_state = state
            self._light.show(state)

    def beep(self, pattern: BuzzerPattern) -> None:
        """Starts the pattern in the background; a new pattern cuts the previous one short."""
        beeps = BUZZER_PATTERNS[pattern]
        with self._lock:
            if self._closed:
                return
            self._buzzer.beep(on_time=beeps.on_s, off_time=beeps.off_s, n=beeps.count)

    def on_help_pressed(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._on_help = callback

    def on_door_changed(self, callback: Callable[[bool], None]) -> None:
        with self._lock:
            self._on_door = callback

    def paper_low(self) -> bool:
        return self.paper_input.value

    def door_open(self) -> bool:
        return self.door_input.value

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._on_help = self._on_door = None
        for settled in (self.help_input, self.door_input, self.paper_input):
            settled.close()
        self._close_devices()
        if self._close_factory:
            self.pin_factory.close()

    # -- read-back -----------------------------------------------------------------

    def snapshot(self) -> IndicatorSnapshot:
        with self._lock:
            if self._closed:
                raise RuntimeError("indicators are closed")
            return IndicatorSnapshot(
                light=self._light_state,
                lit=self._light.lit(),
                buzzer_on=bool(self._buzzer.is_active),
                help_pressed=self.help_input.value,
                door_open=self.door_input.value,
                paper_low=self.paper_input.value,
            )

    # -- internals -----------------------------------------------------------------

    def _own(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def _close_devices(self) -> None:
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:
                log.exception("closing %r failed", device)
        self._devices.clear()

    def _help_changed(self, pressed: bool) -> None:
        if pressed:
            with self._lock:
                callback = self._on_help
            self._call("help button", callback)

    def _door_changed(self, is_open: bool) -> None:
        log.info("cabinet door %s", "opened" if is_open else "closed")
        with self._lock:
            callback = self._on_door
        self._call("door switch", callback, is_open)

    def _paper_changed(self, low: bool) -> None:
        log.info("paper %s", "low" if low else "ok")

    @staticmethod
    def _call(what: str, callback: Callable[..., None] | None, *args: object) -> None:
        if callback is None:
            log.debug("%s: nobody listening", what)
            return
        try:
            callback(*args)
        except Exception:
            log.exception("%s listener raised", what)
