"""Sizes and colours derived from the screen: touch targets in millimetres, not pixels.

Everything a layout needs comes from ``Metrics``: the same screen code fits 800×480,
1024×600 and 1280×800 because sizes are computed from the panel's pixels and DPI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: A touch target smaller than this is missed by stiff or shaky fingers.
TARGET_MM = 15.0
#: No text below this on any screen (the farmer reads it at arm's length).
MIN_TEXT_PX = 24

# High-contrast palette: every pair used for text is above WCAG AA (4.5:1).
BACKGROUND = (248, 247, 240)
INK = (17, 17, 17)
WHITE = (255, 255, 255)
PRIMARY = (0, 66, 138)  # buttons that move forward: white text, 9:1
PLAIN = (222, 226, 232)  # secondary buttons: ink text
SELECTED = (255, 205, 0)  # a chosen option: ink text
OK = (0, 105, 45)  # negative result / done: white text
WARN = (255, 170, 0)  # suspicious / attention: ink text
DANGER = (180, 0, 0)  # positive / refused: white text
DISABLED = (200, 200, 200)
FRAME = (90, 90, 90)
TOP_BAR = (0, 48, 100)

#: Alerts: (tint, ink) per style; the ink is both the words and the frame (contrast > 7:1).
ALERTS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "danger": ((253, 232, 232), (150, 0, 0)),
    "warn": ((255, 243, 205), (92, 58, 0)),
    "ok": ((226, 244, 232), (0, 90, 38)),
    "plain": ((236, 240, 246), INK),
}

STYLES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "primary": (PRIMARY, WHITE),
    "plain": (PLAIN, INK),
    "selected": (SELECTED, INK),
    "ok": (OK, WHITE),
    "warn": (WARN, INK),
    "danger": (DANGER, WHITE),
    "nav": (WHITE, PRIMARY),
    # Not available now: no fill, pale words; unmistakable beside a filled, framed key.
    "disabled": (BACKGROUND, (160, 160, 160)),
    "text": (BACKGROUND, INK),
    "bar": (TOP_BAR, WHITE),
}


@dataclass(frozen=True)
class Metrics:
    width: int
    height: int
    dpi: float

    @property
    def target(self) -> int:
        """The smallest touch target, in pixels, at this panel's DPI."""
        return math.ceil(TARGET_MM * self.dpi / 25.4)

    @property
    def gap(self) -> int:
        return max(6, self.target // 12)

    @property
    def body_px(self) -> int:
        return max(MIN_TEXT_PX, round(self.height / 19))

    @property
    def title_px(self) -> int:
        return self.body_px + 6

    @property
    def big_px(self) -> int:
        return round(self.body_px * 1.6)

    @property
    def bar_height(self) -> int:
        return self.target + self.gap


#: Plausible DPI of the panels the kiosk ships with (7" 800×480, 7" 1024×600, 10.1" 1280×800).
PANEL_DPI = {(800, 480): 133.0, (1024, 600): 170.0, (1280, 800): 149.0}
