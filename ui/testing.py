"""Driving the UI from tests and benchmarks: synthetic touches, scans, screenshots, checks.

Touches are real SDL mouse events (what SDL makes of a touchscreen tap) posted into the
queue; scans go through the same path as the scanner thread's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pygame

from ui.loop import App
from ui.screens.common import PIN_CHECK_JOB
from ui.screens.farmer import PRINTER_READY_JOB
from ui.theme import MIN_TEXT_PX

#: Worker jobs a tap starts and the next tap waits for, as a person would wait for the
#: screen's answer: the printer check before a flow, a PIN check.
QUICK_CHECKS = (PRINTER_READY_JOB, PIN_CHECK_JOB)


class Driver:
    def __init__(self, app: App) -> None:
        self.app = app
        self.taps = 0

    def settle(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            self.app.step(0.0)

    def await_printer_check(self, timeout: float = 10.0) -> None:
        """Let the printer check that starts a farmer's flow, or a PIN check, answer (they
        run on workers, as on the kiosk), so the next tap finds its screen."""
        deadline = time.monotonic() + timeout
        while any(job.label in QUICK_CHECKS for job in self.app.jobs):
            if time.monotonic() > deadline:
                raise TimeoutError("the printer check did not answer")
            self.app.step(0.02)

    def tap(self, key: str) -> None:
        """Press and release the finger on the widget named ``key``."""
        self.settle(1)
        self.await_printer_check()
        widget = self.app.find(key)
        if widget is None:
            keys = [w.key for w in self.app.top.widgets]
            raise LookupError(f"no widget {key!r} on {type(self.app.top).__name__}: {keys}")
        if not widget.tappable:
            raise AssertionError(f"{key!r} is not tappable")
        pos = widget.rect.center
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=True))
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=True))
        self.taps += 1
        self.settle()

    def write(self, pad: str, strokes: list[list[tuple[float, float]]], box: float) -> None:
        """Draw ``strokes`` (points in a ``box``-sized square) into the writing box ``pad``
        with real SDL button and motion events, one stroke at a time."""
        self.settle(1)
        widget = self.app.find(pad)
        if widget is None:
            raise LookupError(f"no writing box {pad!r} on {type(self.app.top).__name__}")
        r = widget.rect
        for stroke in strokes:
            points = [
                (r.x + round(x * r.width / box), r.y + round(y * r.height / box)) for x, y in stroke
            ]
            events = [pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=points[0], button=1)]
            events += [
                pygame.event.Event(pygame.MOUSEMOTION, pos=p, rel=(0, 0), buttons=(1, 0, 0))
                for p in points[1:]
            ]
            events.append(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=points[-1], button=1))
            for event in events:
                pygame.event.post(event)
            self.settle(1)
        self.settle()

    def type_digits(self, digits: str) -> None:
        for d in digits:
            self.tap(f"key_{d}")

    def scan(self, code: str) -> None:
        self.app.post("scan", None, code=code)
        self.settle()

    def until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"still on {type(self.app.top).__name__}")
            self.app.step(0.02)
        self.settle()

    def on(self, kind: type) -> bool:
        self.await_printer_check()
        return isinstance(self.app.top, kind)

    def texts(self) -> list[str]:
        self.settle(1)
        self.await_printer_check()
        return [r.text for r in self.app.canvas.texts] if self.app.canvas else []

    def screenshot(self, path: Path) -> None:
        self.app.invalidate()
        self.settle(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.app.surface, str(path))


def layout_problems(app: App) -> list[str]:
    """Text clipped or below 24 px, overlapping widgets, touch targets under 15 mm."""
    app.invalidate()
    app.step(0.0)
    problems = []
    area = app.surface.get_rect()
    assert app.canvas is not None  # step() rendered a frame
    for record in app.canvas.texts:
        if not record.fits or not record.box.contains(record.rect):
            problems.append(f"text clipped in {record.widget}: {record.text!r}")
        if record.size < MIN_TEXT_PX:
            problems.append(f"text under {MIN_TEXT_PX}px in {record.widget}")
    widgets = app.top.widgets
    target = app.metrics.target
    for i, a in enumerate(widgets):
        if not area.contains(a.rect):
            problems.append(f"{a.key} leaves the screen")
        if a.tappable and (a.rect.width < target or a.rect.height < target):
            problems.append(f"{a.key} is {a.rect.size}, under {target}px (15 mm)")
        for b in widgets[i + 1 :]:
            if a.rect.colliderect(b.rect):
                problems.append(f"{a.key} overlaps {b.key}")
    return problems
