"""The pure decoder for a HID keyboard-wedge scanner: key events in, whole codes out.

No I/O and no clock of its own: every event carries its time, so tests feed exact
sequences and the evdev reader and the simulator share this one path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from drivers.scanner import keymap
from drivers.scanner.burst import DEFAULT_RULES, BurstAssembler, BurstRules

log = logging.getLogger(__name__)


class KeyEvent(NamedTuple):
    """One kernel input event (``struct input_event``), time in seconds."""

    timestamp: float
    type: int
    code: int
    value: int


class WedgeDecoder:
    """Turns a stream of input events from one grabbed keyboard device into codes.

    Key presses type characters (US layout, Shift from either Shift key); Enter or
    keypad Enter ends a code. Releases only matter for modifiers; auto-repeats are
    ignored (a wedge never repeats, a stuck key must not type a code). SYN and MSC
    events carry nothing for us.
    """

    def __init__(self, rules: BurstRules = DEFAULT_RULES, *, source: str = "scanner") -> None:
        self._burst = BurstAssembler(rules, source=source)
        self._held: set[int] = set()

    @property
    def dropped(self) -> int:
        return self._burst.dropped

    def feed(self, event: KeyEvent) -> str | None:
        """One event; returns a finished code when this event terminated one."""
        if event.type != keymap.EV_KEY or event.value == keymap.KEY_REPEAT:
            return None
        code, t = event.code, event.timestamp
        if code in keymap.SHIFT_KEYS or code in keymap.CHORD_KEYS:
            if event.value == keymap.KEY_PRESS:
                self._held.add(code)
            else:
                self._held.discard(code)
            return None
        if event.value != keymap.KEY_PRESS:
            return None
        if code in keymap.TERMINATORS:
            return self._burst.terminate(t)
        if code in keymap.LOCK_KEYS:
            return None
        if self._held & keymap.CHORD_KEYS:
            self._burst.spoil(f"key {code} pressed with Ctrl/Alt/Meta held", t)
            return None
        char = keymap.character(code, shifted=bool(self._held & keymap.SHIFT_KEYS))
        if char is None:
            self._burst.spoil(f"key {code} types no character", t)
        else:
            self._burst.add(char, t)
        return None

    def feed_all(self, events: Iterable[KeyEvent]) -> list[str]:
        """Convenience for tests and batch reads: every code the events finish."""
        return [code for e in events if (code := self.feed(e)) is not None]

    def expire(self, now: float) -> bool:
        """Drop a burst left without terminator; ``now`` is on the events' clock."""
        return self._burst.expire(now)

    def reset(self, reason: str = "device gone") -> None:
        """Forget half-typed input and held modifiers (the device went away)."""
        self._burst.reset(reason)
        self._held.clear()


def keystrokes(
    text: str,
    start: float,
    char_interval: float = 0.0,
    *,
    terminator: int | None = keymap.KEY_ENTER,
) -> Iterator[KeyEvent]:
    """The events a US-layout wedge sends to type ``text`` (used by the simulator and tests).

    Each character is press, release, SYN (Shift pressed and released around it if
    needed), ``char_interval`` seconds apart. Raises ValueError for a character a US
    keyboard cannot type.
    """
    t = start
    for char in text:
        try:
            code, shift = keymap.KEYSTROKE_FOR[char]
        except KeyError:
            raise ValueError(f"a US-layout wedge cannot type {char!r}") from None
        yield from _stroke(code, shift, t)
        t += char_interval
    if terminator is not None:
        yield from _stroke(terminator, False, t)


def _stroke(code: int, shift: bool, t: float) -> Iterator[KeyEvent]:
    if shift:
        yield KeyEvent(t, keymap.EV_KEY, keymap.KEY_LEFTSHIFT, keymap.KEY_PRESS)
    yield KeyEvent(t, keymap.EV_KEY, code, keymap.KEY_PRESS)
    yield KeyEvent(t, keymap.EV_SYN, 0, 0)
    yield KeyEvent(t, keymap.EV_KEY, code, keymap.KEY_RELEASE)
    if shift:
        yield KeyEvent(t, keymap.EV_KEY, keymap.KEY_LEFTSHIFT, keymap.KEY_RELEASE)
    yield KeyEvent(t, keymap.EV_SYN, 0, 0)
