"""Indicators through gpiozero's MockFactory: real gpiozero devices, mock pins."""

from __future__ import annotations

import importlib.util
import logging
import threading
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
    DOOR_SETTLE_S,
    PAPER_SETTLE_S,
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


def test_starts_dark_quiet_and_healthy(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    snap = indicators.snapshot()
    assert rgb(sim) == (False, False, False) and not sim.level("buzzer")
    assert (snap.light, snap.door_open, snap.paper_low, snap.help_pressed) == (
        LightState.OFF,
        False,
        False,
        False,
    )


def test_light_follows_set_light(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    indicators.set_light(LightState.READY)
    assert rgb(sim) == (False, True, False)
    indicators.set_light(LightState.FAULT)
    assert rgb(sim) == (True, False, False)
    assert indicators.snapshot().lit["red"]
    indicators.set_light(LightState.OFF)
    assert rgb(sim) == (False, False, False)


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


def test_tower_light_and_common_anode_wiring() -> None:
    pins = GpioPins(light_kind=LightKind.TOWER, light_amber=5, light_active_high=False)
    with open_indicators(pins, simulated=True) as indicators:
        sim = indicators.simulation
        assert sim is not None
        indicators.set_light(LightState.READY)
        # active-low: the lit lamp's pin is low, the dark ones high
        assert (sim.level("light_green"), sim.level("light_red"), sim.level("light_amber")) == (
            False,
            True,
            True,
        )
        indicators.set_light(LightState.BUSY)
        assert wait_for(
            lambda: indicators.snapshot().lit == {"red": False, "amber": True, "green": False}
        )


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


def test_door_reports_open_and_closed(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    changes: list[bool] = []
    indicators.on_door_changed(changes.append)
    sim.open_door()
    sim.close_door()
    sim.open_door()  # a reed switch chattering as the door swings
    assert wait_for(lambda: changes == [True])
    assert indicators.door_open()
    sim.close_door()
    assert wait_for(lambda: changes == [True, False])
    time.sleep(DOOR_SETTLE_S * 2)
    assert changes == [True, False]


def test_paper_low_reads_after_settling(cabinet: tuple[GpioIndicators, CabinetSimulation]) -> None:
    indicators, sim = cabinet
    assert not indicators.paper_low()
    sim.set_paper_low(True)
    assert not indicators.paper_low()  # a single flicker is not yet "low"
    assert wait_for(indicators.paper_low, timeout=PAPER_SETTLE_S * 3)
    sim.set_paper_low(False)
    assert wait_for(lambda: not indicators.paper_low(), timeout=PAPER_SETTLE_S * 3)


def test_a_raising_listener_is_logged_and_the_next_press_still_works(
    cabinet: tuple[GpioIndicators, CabinetSimulation], caplog: pytest.LogCaptureFixture
) -> None:
    indicators, sim = cabinet
    calls = threading.Semaphore(0)

    def listener() -> None:
        calls.release()
        raise RuntimeError("UI bug")

    indicators.on_help_pressed(listener)
    with caplog.at_level(logging.ERROR):
        sim.press_help()
        assert calls.acquire(timeout=2)
        time.sleep(SETTLED)  # let the release settle: back-to-back edges are bounce
        sim.press_help()
        assert calls.acquire(timeout=2)
    assert "help button listener raised" in caplog.text


def test_press_with_nobody_listening_is_harmless(
    cabinet: tuple[GpioIndicators, CabinetSimulation],
) -> None:
    indicators, sim = cabinet
    sim.press_help()
    time.sleep(SETTLED)
    assert indicators.snapshot().help_pressed is False


def test_close_twice_is_harmless_and_releases_the_pins() -> None:
    indicators = open_indicators(simulated=True)
    sim = indicators.simulation
    assert sim is not None
    indicators.set_light(LightState.READY)
    indicators.close()
    indicators.close()
    indicators.set_light(LightState.FAULT)  # after close: ignored, not an exception
    indicators.beep(BuzzerPattern.ERROR)
    assert sim.factory.pins == {}
    with pytest.raises(RuntimeError):
        indicators.snapshot()


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
