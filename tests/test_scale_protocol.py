"""The scale's line protocol, the line splitter and staleness, without threads."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.scale import Weight
from drivers.scale.protocol import ScaleLineError, format_line, parse_line
from drivers.scale.readings import GARBAGE_LOG_INTERVAL_S, LineSplitter, ReadingStore


@pytest.mark.parametrize(
    ("line", "kilograms", "stable"),
    [
        ("ST,GS,+0012.50kg", "12.50", True),
        ("US,GS,+0012.48kg", "12.48", False),
        ("ST,NT,-0000.35kg", "-0.35", True),
        ("st,gs,+0012.50KG", "12.50", True),
        ("ST,+12.5kg", "12.5", True),
        ("ST,GS,+   12.50 kg", "12.50", True),
        (" ST , GS , 12.50kg ", "12.50", True),
        ("ST,GS,+0012500g", "12.5", True),
        ("US,GS,- 350 g", "-0.35", False),
        ("ST,GS,.5kg", "0.5", True),
    ],
)
def test_accepted_variants(line: str, kilograms: str, stable: bool) -> None:
    assert parse_line(line) == Weight(Decimal(kilograms), stable)


@pytest.mark.parametrize("line", ["OL,GS,+9999.99kg", "OL", "ol,GS,  OL  "])
def test_overload_is_no_weight(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ST,GS,",
        "ST,GS,+12.50lb",
        "XX,GS,+12.50kg",
        "ST,GS,++12.50kg",
        "ST,GS,+12.50",
        "ST,GS,12,50kg",
        "ST,GS,+0012.50kg junk",
        "\ufffd\ufffdST,GS,+0012.50kg",
        "ST,GS,+123456789.00kg",
    ],
)
def test_garbage_is_rejected(line: str) -> None:
    with pytest.raises(ScaleLineError):
        parse_line(line)


@given(
    st.decimals(min_value=-999, max_value=9999, places=2, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["kg", "g"]),
)
def test_what_the_simulator_writes_parses_back(value: Decimal, stable: bool, unit: str) -> None:
    weight = Weight(value, stable)
    parsed = parse_line(format_line(weight, unit=unit))
    assert parsed is not None
    assert parsed.stable == stable
    assert parsed.kilograms == value


def test_splitter_handles_cr_lf_crlf_split_reads_and_overlong_runs() -> None:
    s = LineSplitter(max_line=20)
    assert s.feed(b"ST,GS,+0001.00kg\r\nUS,GS,") == ["ST,GS,+0001.00kg"]
    assert s.feed(b"+0001.10kg\rST,+1kg\n\n") == ["US,GS,+0001.10kg", "ST,+1kg"]
    [overlong] = s.feed(b"x" * 50 + b"\r\n")
    with pytest.raises(ScaleLineError):
        parse_line(overlong)
    assert s.feed(b"ST,+2kg\r\n") == ["ST,+2kg"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_latest_goes_stale_and_overload_clears_it() -> None:
    clock = FakeClock()
    store = ReadingStore("test scale", stale_after=1.0, clock=clock)
    assert store.latest() is None
    store.feed_line("US,GS,+0003.10kg")
    store.feed_line("ST,GS,+0003.00kg")
    assert store.latest() == Weight(Decimal("3.00"), True)
    clock.now += 0.9
    assert store.latest() is not None
    clock.now += 0.2
    assert store.latest() is None  # nothing for 1.1 s: stale
    store.feed_line("ST,GS,+0003.00kg")
    assert store.latest() is not None
    store.feed_line("OL,GS,+9999.99kg")
    assert store.latest() is None
    assert (store.readings, store.overloads) == (3, 1)


def test_garbage_is_dropped_with_a_rate_limited_log_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    store = ReadingStore("test scale", clock=clock)
    store.feed_line("ST,GS,+0001.00kg")
    with caplog.at_level(logging.WARNING):
        for _ in range(30):
            store.feed_line("@@noise@@")
        clock.now += GARBAGE_LOG_INTERVAL_S
        store.feed_line("@@noise@@")
    warnings = [r for r in caplog.records if "garbage" in r.getMessage()]
    assert len(warnings) == 2
    assert "dropped 30 garbage" in warnings[1].getMessage()
    assert store.garbage == 31
