"""The ``Indicators`` contract, run on every cabinet wiring over gpiozero's MockFactory.

Each test runs over tests/support/indicator_rigs.py's wirings (RGB LED active-high,
common-anode RGB with an active-low buzzer, an active-low stack light). What the seam
promises (drivers/indicators/__init__.py): ``set_light`` shows each state in its
colour (BUSY blinks amber); ``beep`` sounds and stops by itself; the help button
calls back once per press, debounced; the door calls back on open and close; the
paper sensor reads low once settled; a listener that raises is logged, and
registering again replaces the listener; ``close()`` is idempotent, releases the
pins, and later calls are ignored.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from support.indicator_rigs import BACKENDS, CabinetRig, cabinet_rig, wait_for

from drivers.indicators import BuzzerPattern, Indicators, LightState
from drivers.indicators.patterns import (
    BUTTON_SETTLE_S,
    BUZZER_PATTERNS,
    DOOR_SETTLE_S,
    PAPER_SETTLE_S,
)

SETTLED = BUTTON_SETTLE_S * 3  # comfortably past the debounce


@pytest.fixture(params=BACKENDS)
def rig(request):
    with cabinet_rig(request.param) as r:
        yield r


def test_a_new_cabinet_is_dark_quiet_and_healthy(rig: CabinetRig) -> None:
    assert isinstance(rig.indicators, Indicators)
    assert rig.lit() == set() and not rig.buzzing()
    assert not rig.indicators.paper_low()
    snap = rig.indicators.snapshot()
    assert (snap.light, snap.door_open, snap.help_pressed) == (LightState.OFF, False, False)


def test_each_light_state_shows_its_colour(rig: CabinetRig) -> None:
    indicators = rig.indicators
    indicators.set_light(LightState.READY)
    assert rig.lit() == {"green"}
    indicators.set_light(LightState.FAULT)
    assert rig.lit() == {"red"}
    indicators.set_light(LightState.BUSY)
    assert wait_for(lambda: rig.lit() == {"amber"})  # blinking: lit...
    assert wait_for(lambda: rig.lit() == set())  # ...and dark again
    indicators.set_light(LightState.READY)  # stops the blinking
    time.sleep(0.5)
    assert rig.lit() == {"green"}
    indicators.set_light(LightState.OFF)
    assert rig.lit() == set()


@pytest.mark.parametrize("pattern", [BuzzerPattern.KEY, BuzzerPattern.ERROR])
def test_a_beep_sounds_then_stops_by_itself(rig: CabinetRig, pattern: BuzzerPattern) -> None:
    rig.indicators.beep(pattern)
    assert rig.buzzing()  # beep() returns while it sounds
    assert wait_for(lambda: not rig.buzzing(), timeout=BUZZER_PATTERNS[pattern].duration_s + 1)


def test_a_help_press_calls_back_once(rig: CabinetRig) -> None:
    presses: list[float] = []
    rig.indicators.on_help_pressed(lambda: presses.append(time.monotonic()))
    rig.hands.bounce_help(edges=7)  # chatter that ends pressed
    time.sleep(SETTLED)
    rig.hands.release_help()
    time.sleep(SETTLED)
    assert len(presses) == 1  # and the release is not a press
    rig.hands.press_help()
    assert wait_for(lambda: len(presses) == 2)


def test_the_door_calls_back_when_opened_and_closed(rig: CabinetRig) -> None:
    changes: list[bool] = []
    rig.indicators.on_door_changed(changes.append)
    rig.hands.open_door()
    rig.hands.close_door()
    rig.hands.open_door()  # a reed switch chattering as the door swings
    assert wait_for(lambda: changes == [True])
    rig.hands.close_door()
    assert wait_for(lambda: changes == [True, False])
    time.sleep(DOOR_SETTLE_S * 2)
    assert changes == [True, False]


def test_paper_low_reads_once_the_sensor_has_settled(rig: CabinetRig) -> None:
    rig.hands.set_paper_low(True)
    assert not rig.indicators.paper_low()  # a single flicker is not yet "low"
    assert wait_for(rig.indicators.paper_low, timeout=PAPER_SETTLE_S * 3)
    rig.hands.set_paper_low(False)
    assert wait_for(lambda: not rig.indicators.paper_low(), timeout=PAPER_SETTLE_S * 3)


def test_a_raising_listener_is_logged_and_the_next_press_still_works(
    rig: CabinetRig, caplog
) -> None:
    calls = threading.Semaphore(0)

    def listener() -> None:
        calls.release()
        raise RuntimeError("UI bug")

    rig.indicators.on_help_pressed(listener)
    with caplog.at_level(logging.ERROR):
        rig.hands.press_help()
        assert calls.acquire(timeout=2)
        time.sleep(SETTLED)  # let the release settle: back-to-back edges are bounce
        rig.hands.press_help()
        assert calls.acquire(timeout=2)
    assert "help button listener raised" in caplog.text


def test_registering_again_replaces_the_listener(rig: CabinetRig) -> None:
    first: list[int] = []
    second: list[int] = []
    rig.indicators.on_help_pressed(lambda: first.append(1))
    rig.indicators.on_help_pressed(lambda: second.append(1))
    rig.hands.press_help()
    assert wait_for(lambda: second == [1])
    time.sleep(SETTLED)
    assert first == []


def test_a_press_with_nobody_listening_is_harmless(rig: CabinetRig) -> None:
    rig.hands.press_help()
    time.sleep(SETTLED)
    assert rig.indicators.snapshot().help_pressed is False


def test_close_is_idempotent_releases_the_pins_and_ignores_later_calls(rig: CabinetRig) -> None:
    rig.indicators.set_light(LightState.READY)
    rig.indicators.close()
    rig.indicators.close()
    rig.indicators.set_light(LightState.FAULT)  # after close: ignored, not an exception
    rig.indicators.beep(BuzzerPattern.ERROR)
    rig.indicators.on_help_pressed(lambda: None)
    assert rig.hands.factory.pins == {}
    with pytest.raises(RuntimeError):
        rig.indicators.snapshot()
