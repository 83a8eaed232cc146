"""The ``Scale`` contract, run against every scale backend that can run here.

Each test runs over tests/support/scale_rigs.py's backends (the simulated scale, and
the serial scale on a real pty). What the seam promises (drivers/scale/__init__.py):
``latest()`` is the newest reading as a ``Weight`` of Decimal kilograms, never raises,
and is None when the platform is overloaded or the scale has been silent for its
staleness time; garbage on the line never becomes a weight; ``close()`` is idempotent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from support.scale_rigs import BACKENDS, STALE_AFTER_S, ScaleRig, scale_rig, wait_for

from drivers.scale import Scale, Weight


@pytest.fixture(params=BACKENDS)
def rig(request, tmp_path):
    with scale_rig(request.param, tmp_path) as r:
        yield r


def settled(rig: ScaleRig, kilograms: str) -> bool:
    return wait_for(lambda: rig.scale.latest() == Weight(Decimal(kilograms), True))


def test_a_placed_load_swings_then_settles_to_a_stable_weight(rig: ScaleRig) -> None:
    assert isinstance(rig.scale, Scale)
    assert settled(rig, "0.00")
    seen: list[Weight] = []
    rig.indicator.place("12.5")

    def record() -> bool:
        w = rig.scale.latest()
        if w is not None and (not seen or w != seen[-1]):
            seen.append(w)
        return w == Weight(Decimal("12.50"), True)

    assert wait_for(record)
    assert all(isinstance(w.kilograms, Decimal) for w in seen)
    assert any(not w.stable for w in seen)  # it swung before it settled
    rig.indicator.remove()
    assert settled(rig, "0.00")


@pytest.mark.parametrize("backend", BACKENDS)
def test_grams_on_the_line_are_kilograms_at_the_seam(backend, tmp_path) -> None:
    with scale_rig(backend, tmp_path, unit="g") as rig:
        rig.indicator.place(Decimal("0.75"))
        assert settled(rig, "0.75")


def test_garbage_on_the_line_never_becomes_a_weight(rig: ScaleRig, caplog) -> None:
    rig.indicator.place("3.20")
    assert settled(rig, "3.20")
    with caplog.at_level(logging.WARNING):
        rig.indicator.send_garbage()
        rig.indicator.send_garbage(b"ST,GS,+00")  # half a line, then the next reading
        assert wait_for(lambda: rig.store.garbage >= 2)
    assert "garbage" in caplog.text
    assert rig.scale.latest() == Weight(Decimal("3.20"), True)


def test_an_overloaded_platform_has_no_weight(rig: ScaleRig) -> None:
    rig.indicator.place("5")
    assert settled(rig, "5.00")
    rig.indicator.overload()
    assert wait_for(lambda: rig.store.overloads >= 1)
    assert rig.scale.latest() is None
    rig.indicator.place("5")
    assert settled(rig, "5.00")


def test_a_silent_scale_goes_stale_and_returns(rig: ScaleRig) -> None:
    rig.indicator.place("1.00")
    assert settled(rig, "1.00")
    rig.indicator.go_silent()
    assert wait_for(lambda: rig.scale.latest() is None, timeout=STALE_AFTER_S * 4)
    rig.indicator.go_silent(False)
    assert settled(rig, "1.00")


def test_an_unplugged_scale_goes_stale_and_comes_back(rig: ScaleRig) -> None:
    rig.indicator.place("2.00")
    assert settled(rig, "2.00")
    rig.unplug()
    assert wait_for(lambda: rig.scale.latest() is None, timeout=STALE_AFTER_S * 4)
    rig.indicator.place("2.50")
    rig.replug()
    assert settled(rig, "2.50")


def test_close_is_idempotent_and_latest_never_raises(rig: ScaleRig) -> None:
    rig.scale.close()
    rig.scale.close()
    latest = rig.scale.latest()
    assert latest is None or isinstance(latest, Weight)
