"""Assembling one scan from a burst of characters, with the garbage rules every transport shares.

A scanner types a whole code in one fast burst and ends it with a terminator. What
does not look like that is dropped, never delivered half:

- a burst that stops without its terminator (a dropped Enter, a cable pulled mid-code)
  is dropped once no character has arrived for ``interchar_timeout``;
- a burst longer than ``max_length`` is swallowed up to its terminator;
- a burst that contains a character no code carries (control bytes, Ctrl/Alt chords,
  unknown keys) is swallowed up to its terminator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Longest silence inside one code. A wedge types a character every 2-8 ms (slow ones
#: with a 10 ms HID poll need ~20 ms), a 9600-baud scanner sends one per millisecond;
#: a person re-aiming for the next code needs far longer than 0.2 s. So a longer gap
#: means the previous burst lost its terminator.
INTERCHAR_TIMEOUT_S = 0.2

#: Longest code accepted. The kiosk's certificate QR (a URL with the signed fields)
#: stays well under this; a stuck key or a runaway device does not.
MAX_CODE_LENGTH = 1024


@dataclass(frozen=True)
class BurstRules:
    """The garbage rules; the defaults suit every scanner we have met."""

    interchar_timeout: float = INTERCHAR_TIMEOUT_S
    max_length: int = MAX_CODE_LENGTH

    def __post_init__(self) -> None:
        if self.interchar_timeout <= 0:
            raise ValueError("interchar_timeout must be positive")
        if self.max_length < 1:
            raise ValueError("max_length must be at least 1")


DEFAULT_RULES = BurstRules()


class BurstAssembler:
    """Collects characters of one burst; times are seconds on the caller's one clock."""

    def __init__(self, rules: BurstRules = DEFAULT_RULES, *, source: str = "scanner") -> None:
        self.rules = rules
        self._source = source
        self._chars: list[str] = []
        self._last: float | None = None
        self._spoiled: str | None = None
        #: How many bursts were dropped as garbage (for diagnostics and tests).
        self.dropped = 0

    @property
    def open(self) -> bool:
        """True while a burst has started and not yet ended."""
        return self._last is not None

    def add(self, char: str, t: float) -> None:
        """One typed character at time ``t``."""
        self._check_gap(t)
        self._last = t
        if self._spoiled:
            return
        self._chars.append(char)
        if len(self._chars) > self.rules.max_length:
            self._spoiled = f"longer than {self.rules.max_length} characters"

    def spoil(self, reason: str, t: float) -> None:
        """Something no code carries arrived: swallow the burst up to its terminator."""
        self._check_gap(t)
        self._last = t
        if not self._spoiled:
            self._spoiled = reason

    def terminate(self, t: float) -> str | None:
        """The terminator arrived: the finished code, or None if there is nothing good."""
        self._check_gap(t)
        if self._last is None:
            return None  # a lone terminator (e.g. the LF after a CR): nothing to end
        code, spoiled = "".join(self._chars), self._spoiled
        self._clear()
        if spoiled:
            self._drop(f"{spoiled} ({len(code)} characters kept before)")
            return None
        return code

    def expire(self, now: float) -> bool:
        """Drop an unterminated burst whose last character is too old; True if dropped."""
        if self._last is not None and now - self._last > self.rules.interchar_timeout:
            self._drop_open("no terminator")
            return True
        return False

    def reset(self, reason: str) -> None:
        """The device went away: whatever was half-typed is garbage."""
        if self._last is not None:
            self._drop_open(reason)

    def _check_gap(self, t: float) -> None:
        if self._last is not None and t - self._last > self.rules.interchar_timeout:
            self._drop_open("no terminator")

    def _drop_open(self, reason: str) -> None:
        n = len(self._chars)
        self._clear()
        self._drop(f"{reason} after {n} characters")

    def _drop(self, why: str) -> None:
        self.dropped += 1
        log.warning("%s: dropped a garbage burst: %s", self._source, why)

    def _clear(self) -> None:
        self._chars = []
        self._last = None
        self._spoiled = None
