"""The re-test state machine of one sample under one method (a "case"): pure functions.

A reading (kiosk/domain/rapidtest_verdict.py) becomes a recorded verdict and a status:

    reading      history                              verdict     status
    invalid      any                                  invalid     invalid (run again)
    positive     no positive yet, or only this portion suspicious  retest_required
    positive     positives on 1 + n portions in all   positive    confirmed
                 (n = the method's retest_portions: GB/T 5009.199 2, others 1)
    negative /   a positive before (not confirmed)    as read     unresolved
    suspicious   no positive before                   as read     final

Case states, derived from the history alone (nothing else is stored):

    untested ──► negative | suspicious | invalid      (last valid reading, no positive)
             ──► retest_required ──(positive, other portion)──► confirmed (terminal)
                        │
                        └──(negative)──► unresolved ──(positive, other portion)──► confirmed

A first positive is never final: the method's false-positive rate (and, for the enzyme
method, sulfur- and pigment-rich produce) means it only asks for a second portion. Two
positive portions confirm it; the service then places the hold, raises the alarm and
refers the sample to a lab. A re-test that disagrees does not clear the sample
("unresolved"): it can still not serve as a certificate's basis, and a further portion
may confirm. A confirmed case takes no more rapid tests: a dispute goes to the lab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kiosk.domain.rapidtest_verdict import INVALID, NEGATIVE, POSITIVE, SUSPICIOUS

FINAL, RETEST_REQUIRED, UNRESOLVED, CONFIRMED = (
    "final",
    "retest_required",
    "unresolved",
    "confirmed",
)
STATUSES = (FINAL, INVALID, RETEST_REQUIRED, UNRESOLVED, CONFIRMED)
UNTESTED = "untested"


class CaseClosed(ValueError):
    """A confirmed positive takes no further rapid tests."""


@dataclass(frozen=True)
class PriorResult:
    test_id: str
    portion: int
    reading: str
    status: str


@dataclass(frozen=True)
class Decision:
    verdict: str
    status: str
    retest_of: str | None


def decide(
    history: Sequence[PriorResult], portion: int, reading: str, retest_portions: int = 1
) -> Decision:
    """Verdict and status of a new reading on `portion`, given the case's earlier results;
    a positive is final once positives stand on ``1 + retest_portions`` distinct portions."""
    if any(r.status == CONFIRMED for r in history):
        raise CaseClosed("该样品已确认阳性，不再做快检；如有异议请在4小时内申请实验室复检")
    positives = [r for r in history if r.reading == POSITIVE]
    first = positives[0].test_id if positives else None
    if reading == INVALID:
        return Decision(INVALID, INVALID, first)
    if reading == POSITIVE:
        portions = {r.portion for r in positives} | {portion}
        if len(portions) >= 1 + retest_portions:
            return Decision(POSITIVE, CONFIRMED, first)
        return Decision(SUSPICIOUS, RETEST_REQUIRED, first)
    if reading not in (NEGATIVE, SUSPICIOUS):
        raise ValueError(f"unknown reading {reading!r}")
    if positives:
        return Decision(reading, UNRESOLVED, first)
    return Decision(reading, FINAL, None)


def case_state(history: Sequence[PriorResult]) -> str:
    """untested, negative, suspicious, invalid, retest_required, unresolved or confirmed."""
    if not history:
        return UNTESTED
    if any(r.status == CONFIRMED for r in history):
        return CONFIRMED
    valid = [r for r in history if r.reading != INVALID]
    if not valid:
        return INVALID
    if any(r.reading == POSITIVE for r in valid):
        return valid[-1].status
    return valid[-1].reading


def next_portion(history: Sequence[PriorResult]) -> int:
    """The portion a run uses when staff do not say: a new one whenever a re-test is due."""
    if not history:
        return 1
    highest = max(r.portion for r in history)
    if case_state(history) in (RETEST_REQUIRED, UNRESOLVED):
        return highest + 1
    return highest
