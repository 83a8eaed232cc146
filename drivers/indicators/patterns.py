"""Timings of the buzzer patterns and the status light, named so they can be argued about."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.indicators import BuzzerPattern


@dataclass(frozen=True)
class Beeps:
    """``count`` beeps of ``on_s`` seconds, ``off_s`` apart (gpiozero ``Buzzer.beep``)."""

    on_s: float
    off_s: float
    count: int

    @property
    def duration_s(self) -> float:
        return self.count * (self.on_s + self.off_s)


#: A click per touch: short enough not to annoy after the hundredth tap.
KEY_CLICK = Beeps(on_s=0.03, off_s=0.03, count=1)
#: Two short beeps: "done", distinct from a click even for someone hard of hearing.
OK_BEEPS = Beeps(on_s=0.08, off_s=0.08, count=2)
#: Three longer beeps: "take your labels" - asks for action without sounding like a fault.
ATTENTION_BEEPS = Beeps(on_s=0.15, off_s=0.15, count=3)
#: One long tone: something went wrong; unmistakable against the others.
ERROR_TONE = Beeps(on_s=0.6, off_s=0.1, count=1)

BUZZER_PATTERNS: dict[BuzzerPattern, Beeps] = {
    BuzzerPattern.KEY: KEY_CLICK,
    BuzzerPattern.OK: OK_BEEPS,
    BuzzerPattern.ATTENTION: ATTENTION_BEEPS,
    BuzzerPattern.ERROR: ERROR_TONE,
}

#: BUSY blinks amber at 1.25 Hz: visibly "working", well below the 3 Hz flash rate
#: accessibility guidance warns about.
BUSY_ON_S = 0.4
BUSY_OFF_S = 0.4

#: Help button: contacts bounce for a few ms; 50 ms of steady level still feels instant.
BUTTON_SETTLE_S = 0.05
#: Door switch: a reed switch chatters while the door swings slowly; an alarm can wait.
DOOR_SETTLE_S = 0.1
#: Paper sensor: the roll wobbles near its end, flickering the sensor as it turns.
PAPER_SETTLE_S = 0.5
