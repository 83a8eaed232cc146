"""Optics and chemistry of the simulated reader: enzyme photometer and strip scanner.

Photometer: a 412 nm LED per channel, detector counts I = I0·10^-A + dark + noise, and
absorbance reported against the stored blank, so lamp ageing and temperature drift
since calibration show up in the data as on a real instrument. Chemistry follows
GB/T 5009.199-2003: AChE hydrolyses acetylthiocholine, thiocholine reacts with DTNB to
TNB (yellow, ε412 = 14150 /M/cm); an organophosphate or carbamate in the sample
inhibits the enzyme during the 10 min pre-incubation, so ΔA over 3 min drops.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

CHANNELS = 12
LAMP_NOMINAL_COUNTS = 52000.0
DARK_COUNTS = 310.0
LAMP_LIFETIME_H = 6000.0  # e-folding life of the LED's output
LAMP_TEMP_COEFF = -0.003  # LED output change per °C
REFERENCE_ABSORBANCE = 0.500  # the neutral-density filter used for reference calibration
# Inhibition constant: inhibitor level 1.0 leaves half the activity after pre-incubation.
INHIBITION_K = math.log(2)
Q10 = 2.0
STRIP_POINTS = 400
STRIP_STEP_UM = 100
STRIP_T_MM = 15.0
STRIP_C_MM = 25.0


@dataclass
class EnzymeSample:
    """What is in a channel's cuvette: inhibitor level (1.0 = IC50) and colour (absorbance)."""

    inhibitor: float = 0.0
    pigment: float = 0.0


@dataclass
class StripSample:
    """analyte / IC50 of the kit, and relative strength of the C line (0 = missing)."""

    ratio: float = 0.0
    c_line: float = 1.0


@dataclass
class Optics:
    """Per-unit optical state that lives in flash: LED strengths, hours, calibration."""

    seed: int
    lamp_hours: float = 420.0
    blank_counts: dict[int, float] | None = None
    reference_gain: dict[int, float] | None = None
    calibrated_at: float | None = None
    i0: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.i0 = [LAMP_NOMINAL_COUNTS * rng.uniform(0.95, 1.05) for _ in range(CHANNELS)]

    def lamp_factor(self) -> float:
        return math.exp(-self.lamp_hours / LAMP_LIFETIME_H)

    def counts(self, ch: int, absorbance: float, temp_c: float, rng: random.Random) -> float:
        """Detector counts for a cuvette of this absorbance (shot plus read noise)."""
        signal = self.i0[ch] * self.lamp_factor() * (1 + LAMP_TEMP_COEFF * (temp_c - 25.0))
        light = signal * 10 ** (-absorbance)
        noise = rng.gauss(0.0, math.sqrt(light) * 0.35 + 4.0)
        return max(1.0, light + DARK_COUNTS + noise)

    def absorbance(self, ch: int, counts: float) -> float:
        """Absorbance against the stored blank, corrected by the reference gain."""
        if self.blank_counts is None:
            raise ValueError("no blank calibration")
        ratio = max(1e-6, (counts - DARK_COUNTS) / (self.blank_counts[ch] - DARK_COUNTS))
        gain = (self.reference_gain or {}).get(ch, 1.0)
        return -math.log10(ratio) * gain


def block_temperature(rng: random.Random, t_s: float, ambient: float) -> float:
    """Thermostatted block: settles to 25 °C from ambient with a slow wander."""
    settle = 25.0 + (ambient - 25.0) * math.exp(-t_s / 240.0)
    return settle + 0.15 * math.sin(t_s / 47.0 + rng.random()) + rng.gauss(0, 0.02)


@dataclass
class EnzymeKinetics:
    """TNB formation in one cuvette, integrated at the requested sample times."""

    rate_au_per_min: float  # control rate at 25 °C (ΔA over 3 min of 0.3-0.8)
    activity: float  # fraction of enzyme activity left after inhibition
    background: float  # DTNB, buffer and sample colour at 412 nm
    depletion_s: float = 1500.0  # substrate use makes the line curve slightly

    @classmethod
    def draw(cls, rng: random.Random, sample: EnzymeSample, batch_rate: float) -> EnzymeKinetics:
        """One cuvette of a run; all share the reagent batch's rate within ±3 %."""
        return cls(
            rate_au_per_min=batch_rate * rng.uniform(0.97, 1.03),
            activity=math.exp(-INHIBITION_K * max(0.0, sample.inhibitor)) * rng.uniform(0.97, 1.03),
            background=0.11 + rng.uniform(0, 0.03) + max(0.0, sample.pigment),
        )

    def absorbance(self, t_s: float, mean_temp_c: float) -> float:
        rate = self.rate_au_per_min / 60.0 * self.activity * Q10 ** ((mean_temp_c - 25.0) / 10.0)
        product = rate * self.depletion_s * (1 - math.exp(-t_s / self.depletion_s))
        return self.background + product


def strip_profile(rng: random.Random, sample: StripSample) -> list[int]:
    """Line darkness along the strip: baseline, T line (competitive) and C line."""
    t_height = 700.0 / (1.0 + max(0.0, sample.ratio) ** 1.3) * rng.uniform(0.93, 1.07)
    c_height = 820.0 * max(0.0, sample.c_line) * rng.uniform(0.95, 1.05)
    width = 0.38
    out = []
    for i in range(STRIP_POINTS):
        x = i * STRIP_STEP_UM / 1000.0
        base = 60.0 + 0.8 * x
        t = t_height * math.exp(-0.5 * ((x - STRIP_T_MM) / width) ** 2)
        c = c_height * math.exp(-0.5 * ((x - STRIP_C_MM) / width) ** 2)
        out.append(max(0, min(65535, round(base + t + c + rng.gauss(0, 3.0)))))
    return out
