"""Timing and isolation details of the gpiozero cabinet on MockFactory: blink and beep
periods, a pattern cut short, debounce of glitches, one factory per cabinet, pin checks.

What every wiring must do (colours, beeps, button, door, paper, listeners, closing)
is the Indicators contract, tests/test_contract_indicators.py."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import pytest
from gpiozero import Device

from drivers.indicators import BuzzerPattern, LightState
from drivers.indicators.factory import GpioUnavailableError, open_indicators
from drivers.indicators.gpio import GpioIndicators
from drivers.indicators.patterns import (
    BUTTON_SETTLE_S,
    BUZZER_PATTERNS,
)
from drivers.indicators.pins import GpioPins, LightKind
from drivers.indicators.sim.cabinet import CabinetSimulation

SETTLED = BUTTON_SETTLE_S * 3  # comfortably past the debounce


@pytest.fixture
def cabinet() -> Iterator[tuple[GpioIndicators, CabinetSimulation]]:
    with open_indicators(GpioPins(), simulated=True) as indicators:
        assert indicators.simulation is not None
        yield indicators, indicators.simulation


def wait_for(predicate: object, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def rgb(sim: CabinetSimulation) -> tuple[bool, bool, bool]:
    return sim.level("light_red"), sim.level("light_green"), sim.level("light_blue")


def test_busy_blinks_amber(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    sim.clear_history()
    indicators.set_light(LightState.BUSY)
    time.sleep(1.0)  # two 0.8 s periods would take longer; one and a bit is enough
    indicators.set_light(LightState.READY)
    red = [s.state for s in sim.history("light_red")]
    green = [s.state for s in sim.history("light_green")]
    assert red[:4] == [False, True, False, True]  # on, off, on again: blinking
    assert green[:4] == [False, True, False, True]  # with green: amber
    assert [s.state for s in sim.history("light_blue")] == [False]
    # BUSY_ON_S = 0.4: the first off edge came about 0.4 s after the on edge
    sim.pin("light_red").assert_states_and_times([(0, False), (0, True), (0.4, False)])
    assert rgb(sim) == (False, True, False)  # READY stopped the blinking


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (BuzzerPattern.KEY, [(0, False), (0, True), (0.03, False)]),
        (BuzzerPattern.OK, [(0, False), (0, True), (0.08, False), (0.08, True), (0.08, False)]),
    ],
)
def test_buzzer_plays_the_pattern(
    cabinet: tuple[GpioIndicators, CabinetSimulation],
    pattern: BuzzerPattern,
    expected: list[tuple[float, bool]],
) -> None:
    indicators, sim = cabinet
    indicators.beep(pattern)
    assert indicators.snapshot().buzzer_on  # beep() returns while the buzzer sounds
    time.sleep(BUZZER_PATTERNS[pattern].duration_s + 0.1)
    states = sim.history("buzzer")
    assert [s.state for s in states] == [state for _, state in expected]
    sim.pin("buzzer").assert_states_and_times(expected)
    assert not sim.level("buzzer")


def test_a_new_pattern_cuts_the_old_one_short(
    cabinet: tuple[GpioIndicators, CabinetSimulation],
) -> None:
    indicators, sim = cabinet
    indicators.beep(BuzzerPattern.ERROR)  # 0.6 s tone
    time.sleep(0.1)
    indicators.beep(BuzzerPattern.KEY)
    time.sleep(0.2)
    states = sim.history("buzzer")
    # the pin was already high when KEY started, so there is one on edge; the tone
    # ended after about 0.1 + 0.03 s instead of the ERROR tone's 0.6 s
    assert [s.state for s in states] == [False, True, False]
    assert states[2].timestamp < 0.3
    assert not sim.level("buzzer")


def test_help_button_is_debounced(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    presses: list[float] = []
    indicators.on_help_pressed(lambda: presses.append(time.monotonic()))
    sim.bounce_help(edges=7)  # chatter that ends pressed
    time.sleep(SETTLED)
    sim.release_help()
    time.sleep(SETTLED)
    assert len(presses) == 1
    sim.hold_help()
    time.sleep(BUTTON_SETTLE_S / 5)  # a glitch shorter than the settle time
    sim.release_help()
    time.sleep(SETTLED)
    assert len(presses) == 1
    sim.press_help()
    assert wait_for(lambda: len(presses) == 2)
    time.sleep(SETTLED)
    assert len(presses) == 2  # the release is not a press


def test_each_cabinet_has_its_own_factory_not_the_global_one() -> None:
    before = Device.pin_factory
    with open_indicators(simulated=True) as a, open_indicators(simulated=True) as b:
        a.set_light(LightState.FAULT)
        b.set_light(LightState.READY)
        assert a.simulation is not None and b.simulation is not None
        assert a.simulation.level("light_red") and not b.simulation.level("light_red")
    assert Device.pin_factory is before


def test_pins_must_not_collide() -> None:
    with pytest.raises(ValueError, match="share"):
        GpioPins(buzzer=23)
    GpioPins(light_kind=LightKind.RGB, light_amber=23 + 100)  # amber unused on an RGB LED


@pytest.mark.skipif(importlib.util.find_spec("lgpio") is not None, reason="lgpio is installed")
def test_real_gpio_without_lgpio_says_what_to_install() -> None:
    with pytest.raises(GpioUnavailableError, match="lgpio"):
        open_indicators(simulated=False)
