"""Readings from raw reader data: pure functions, so any stored run recomputes exactly.

A *reading* is what one channel or strip says on its own (negative, suspicious,
positive, invalid). What is recorded as the verdict also depends on the sample's
history (a first positive is only "suspicious" until a second portion confirms it);
that is kiosk/domain/rapidtest_cases.py.

Enzyme inhibition (GB/T 5009.199-2003, NY/T 448-2001): ΔA = A(end) − A(start) of the
read window, as the standards define it (not a fitted slope);
inhibition % = (ΔA_control − ΔA_sample) / ΔA_control × 100. A control ΔA outside its
range, or any block temperature in the window outside the method's window, makes every
reading of the run invalid, never negative: a dead enzyme or a cold block would
otherwise pass residues.

Colloidal-gold strips (competitive): the line height is the baseline-corrected maximum
in the line's window; no C line = invalid; T/C below the kit's cut-off = positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kiosk.domain.rapidtest_methods import EnzymeMethod, StripMethod

NEGATIVE, SUSPICIOUS, POSITIVE, INVALID = "negative", "suspicious", "positive", "invalid"
READINGS = (NEGATIVE, SUSPICIOUS, POSITIVE, INVALID)
#: Points averaged at each edge of a line's window to place the baseline under the peak.
BASELINE_EDGE_POINTS = 5
#: A reading rounds to this many decimals where it is shown and sent.
VALUE_DECIMALS = 2


@dataclass(frozen=True)
class Curve:
    """One channel's absorbance against time, as stored with the run."""

    times_s: tuple[float, ...]
    absorbance: tuple[float, ...]


@dataclass(frozen=True)
class ChannelReading:
    channel: int
    delta_a: float
    inhibition_percent: float | None
    reading: str


@dataclass(frozen=True)
class EnzymeReadout:
    control_channel: int
    control_delta_a: float
    temperature_range: tuple[float, float]
    invalid_reason: str | None
    channels: dict[int, ChannelReading]


@dataclass(frozen=True)
class StripReadout:
    t_height: float
    c_height: float
    ratio: float | None
    reading: str
    invalid_reason: str | None


def delta_a(curve: Curve, window_s: tuple[float, float]) -> float:
    """A at the last point inside the window minus A at the first point inside it."""
    start, end = window_s
    inside = [i for i, t in enumerate(curve.times_s) if start - 1e-9 <= t <= end + 1e-9]
    if len(inside) < 2:
        raise ValueError(f"fewer than two readings inside the read window {start}-{end} s")
    return curve.absorbance[inside[-1]] - curve.absorbance[inside[0]]


def inhibition_percent(control_delta_a: float, sample_delta_a: float) -> float:
    """(ΔA_control − ΔA_sample) / ΔA_control × 100; the control must have reacted."""
    if control_delta_a <= 0:
        raise ValueError("the control did not react (ΔA ≤ 0): inhibition is undefined")
    return (control_delta_a - sample_delta_a) / control_delta_a * 100.0


def classify_inhibition(value: float, method: EnzymeMethod) -> str:
    if value >= method.threshold_percent:
        return POSITIVE
    if value >= method.threshold_percent - method.suspicious_band_percent:
        return SUSPICIOUS
    return NEGATIVE


def enzyme_readout(
    method: EnzymeMethod,
    curves: Mapping[int, Curve],
    temperatures_c: Sequence[float],
    control_channel: int,
) -> EnzymeReadout:
    """Every sample channel's reading of one run (all channels except the control)."""
    if control_channel not in curves:
        raise ValueError(f"control channel {control_channel} has no curve")
    window = method.read_window_s
    control = curves[control_channel]
    control_da = delta_a(control, window)
    in_window = [
        temp
        for t, temp in zip(control.times_s, temperatures_c, strict=True)
        if window[0] - 1e-9 <= t <= window[1] + 1e-9
    ]
    t_low, t_high = min(in_window), max(in_window)
    reason = None
    lo, hi = method.control_delta_a
    if not lo <= control_da <= hi:
        reason = f"对照ΔA为{control_da:.3f}，不在{lo:g}–{hi:g}之间（酶或底物失效），本次检测无效"
    elif t_low < method.temperature_c[0] or t_high > method.temperature_c[1]:
        reason = (
            f"反应温度{t_low:.1f}–{t_high:.1f}℃超出"
            f"{method.temperature_c[0]:g}–{method.temperature_c[1]:g}℃，本次检测无效"
        )
    channels: dict[int, ChannelReading] = {}
    for channel in sorted(curves):
        if channel == control_channel:
            continue
        sample_da = delta_a(curves[channel], window)
        value = inhibition_percent(control_da, sample_da) if control_da > 0 else None
        if reason is not None or value is None:
            reading = INVALID
        else:
            reading = classify_inhibition(value, method)
        channels[channel] = ChannelReading(channel, sample_da, value, reading)
    return EnzymeReadout(control_channel, control_da, (t_low, t_high), reason, channels)


def line_height(
    intensities: Sequence[int | float], step_mm: float, window_mm: tuple[float, float]
) -> float:
    """Baseline-corrected maximum of a line inside its window (0 when there is no line).

    The baseline runs straight between the means of the window's first and last few
    points, so the strip's background slope does not count as line darkness.
    """
    first = max(0, round(window_mm[0] / step_mm))
    last = min(len(intensities) - 1, round(window_mm[1] / step_mm))
    edge = BASELINE_EDGE_POINTS
    if last - first + 1 < 2 * edge + 1:
        raise ValueError(f"line window {window_mm} mm holds too few points at {step_mm} mm")
    left = sum(intensities[first : first + edge]) / edge
    right = sum(intensities[last - edge + 1 : last + 1]) / edge
    x_left, x_right = first + (edge - 1) / 2, last - (edge - 1) / 2
    best = 0.0
    for i in range(first, last + 1):
        baseline = left + (right - left) * (i - x_left) / (x_right - x_left)
        best = max(best, intensities[i] - baseline)
    return best


def strip_readout(
    method: StripMethod, intensities: Sequence[int | float], step_mm: float, read_after_min: float
) -> StripReadout:
    """The strip's reading: invalid without a C line or when read outside the kit's window."""
    t_height = line_height(intensities, step_mm, method.t_window_mm)
    c_height = line_height(intensities, step_mm, method.c_window_mm)
    earliest, latest = method.read_window_min
    if c_height < method.c_min_height:
        reason = f"质控线（C线）未显色（{c_height:.0f} < {method.c_min_height:g}），试纸条无效"
        return StripReadout(t_height, c_height, None, INVALID, reason)
    ratio = t_height / c_height
    if not earliest <= read_after_min <= latest:
        reason = (
            f"加样后{read_after_min:.1f}分钟读数，不在试剂盒规定的{earliest:g}–{latest:g}分钟内，"
            "结果无效"
        )
        return StripReadout(t_height, c_height, ratio, INVALID, reason)
    if ratio < method.t_c_cutoff:
        reading = POSITIVE
    elif ratio < method.t_c_cutoff + method.suspicious_band:
        reading = SUSPICIOUS
    else:
        reading = NEGATIVE
    return StripReadout(t_height, c_height, ratio, reading, None)
