"""Reusable screens: a message with next steps, a big keypad, a paged choice of tiles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pygame

from kiosk.services.kiosk import Kiosk
from kiosk.services.staff import LockedOut, LoginRefused
from ui import layout
from ui.screens.base import Screen
from ui.widgets import Alert, Button, Label, Page, Widget


@dataclass
class Option:
    key: str
    text: str
    on_tap: Callable[[], None]
    icon: str | None = None
    style: str = "plain"


class MessageScreen(Screen):
    """Plain words about what happened and what to do next, with a picture."""

    def __init__(
        self,
        app,
        title_key: str,
        text: str,
        *,
        icon: str = "warning",
        style: str = "danger",
        actions: list[Option] | None = None,
        prompt: str | None = "refused",
        show_back: bool = True,
        speak: bool = False,
    ) -> None:
        super().__init__(app)
        self.title_key = title_key
        self.text = text
        self.icon = icon
        self.style = style
        self.actions = actions or []
        self.prompt = prompt
        self.show_back = show_back
        #: Say the message itself after the prompt (every refusal in its own words).
        self.speak = speak

    def on_enter(self) -> None:
        super().on_enter()
        if self.speak:
            self.app.speak(self.text)

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        heights = [1.0, m.target] if self.actions else [1.0]
        rows = layout.split_v(area, heights, m.gap)
        out: list[Widget] = [Alert("message", rows[0], self.text, self.icon, style=self.style)]
        if self.actions:
            cells = layout.split_h(rows[1], [1.0] * len(self.actions), m.gap)
            for cell, opt in zip(cells, self.actions, strict=True):
                out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        return out


log = logging.getLogger(__name__)

#: What ``KeypadScreen.on_done`` returns when the value goes to a worker to be checked;
#: the screen then waits for ``answer``.
CHECKING = "\x00checking"


class KeypadScreen(Screen):
    """Digits on a large keypad: phone numbers, PINs and quantities.

    ``on_done(value)`` returns None when the value was taken, else the words to show, or
    ``CHECKING`` when a worker checks it (a PIN: scrypt costs 0.2-0.8 s, longer than a
    frame) and will call ``answer`` later.
    """

    def __init__(
        self,
        app,
        title_key: str,
        on_done: Callable[[str], str | None],
        *,
        mask: bool = False,
        decimal: bool = False,
        max_len: int = 11,
        prompt: str | None = "identify",
        title_values: dict | None = None,
        auto_submit: bool = False,
        skip: Option | None = None,
    ) -> None:
        super().__init__(app)
        self.title_key = title_key
        self.title_values = title_values or {}
        self.on_done = on_done
        self.mask = mask
        self.decimal = decimal
        self.max_len = max_len
        self.prompt = prompt
        #: Go on by itself once ``max_len`` characters are in (an 11-digit phone number).
        self.auto_submit = auto_submit
        #: A way past this pad (registering without a PIN), shown beside OK.
        self.skip = skip
        self.value = ""
        self.error = ""
        #: The value is being checked on a worker (``on_done`` returned ``CHECKING``).
        self.checking = False

    def title(self) -> str:
        return self.t(self.title_key, **self.title_values)

    def press(self, char: str) -> None:
        if self.checking:
            return
        self.error = ""
        if char == "⌫":
            self.value = self.value[:-1]
        elif char == "." and ("." in self.value or not self.decimal):
            return
        elif len(self.value) < self.max_len:
            self.value += char
            if self.auto_submit and len(self.value) == self.max_len:
                self.submit()
                return
        self.refresh()

    def submit(self) -> None:
        if self.checking:
            return  # a second tap on OK while the first value is checked
        error = self.on_done(self.value)
        if error is CHECKING:
            self.checking = True
            self.refresh()
            return
        self.answer(error)

    def answer(self, error: str | None) -> None:
        """The verdict on the value: None when taken, else the words to show and say."""
        self.checking = False
        if error:
            self.error = error
            self.value = "" if self.mask else self.value
            self.app.speak(error)
        self.refresh()

    def shown(self) -> str:
        return "●" * len(self.value) if self.mask else self.value

    def side_widgets(self, area: pygame.Rect) -> list[Widget]:
        """The left column under the display: the error and the OK button."""
        m = self.app.metrics
        rows = layout.split_v(area, [1.0, m.target], m.gap)
        out = [
            Label("error", rows[0], self.t("checking"), self.app.metrics.body_px)
            if self.checking
            else error_widget(rows[0], self.error)
        ]
        if self.skip is not None:
            ok, skip = layout.split_h(rows[1], [1.0, 1.0], m.gap)
            out.append(
                Button(
                    self.skip.key,
                    skip,
                    self.skip.text,
                    self.skip.on_tap,
                    self.skip.icon,
                    self.skip.style,
                )
            )
        else:
            ok = rows[1]
        out.append(Button("ok", ok, self.t("ok"), self.submit, "check", "ok"))
        return out

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        left, right = layout.split_h(area, [1.0, 1.15], m.gap * 2)
        rows = layout.split_v(left, [m.target, 1.0], m.gap)
        out: list[Widget] = [
            Label("display", rows[0], self.shown() or " ", m.big_px, frame=True),
            *self.side_widgets(rows[1]),
        ]
        keys = [*"123456789", "." if self.decimal else "", "0", "⌫"]
        for cell, char in zip(layout.grid(right, 4, 3, m.gap), keys, strict=True):
            if not char:
                continue
            text = self.t("clear") if char == "⌫" else char
            out.append(
                Button(
                    f"key_{char}" if char != "⌫" else "key_del",
                    cell,
                    text,
                    partial(self.press, char),
                    style="plain",
                    max_px=m.big_px,
                )
            )
        return out


#: The job label of a PIN check on the "pin" worker.
PIN_CHECK_JOB = "pin"


def check_pin(
    app,
    pad: KeypadScreen,
    check: Callable[[Kiosk], Any],
    verdict: Callable[[Any], str | None],
) -> str:
    """Run ``check(services)`` on the PIN worker and return ``CHECKING`` for the pad.

    ``verdict`` runs on the UI thread with what the check returned or the refusal it
    raised (``LockedOut``, ``LoginRefused``) and gives the pad its words (None: taken).
    """

    def work(services: Kiosk, control: object) -> Any:
        try:
            return check(services)
        except (LockedOut, LoginRefused) as refusal:
            return refusal

    def done(kind: str, data: dict[str, Any]) -> None:
        if pad not in app.stack:
            log.info("a PIN check answered after its pad was left: dropped")
            return
        if kind == "job_done":
            pad.answer(verdict(data["result"]))
        else:
            log.error("PIN check failed: %s", data.get("error"))
            pad.answer(app.i18n.t("failed_plain"))

    app.run_job(None, "pin", work, label=PIN_CHECK_JOB, expected_s=5.0, on_finish=done)
    return CHECKING


def error_widget(area: pygame.Rect, text: str) -> Widget:
    """An error in red with an icon, as large as body text; nothing when there is none."""
    if not text:
        return Label("error", area, "")
    return Alert("error", area, text, "warning", style="danger", compact=True)


class ChoiceScreen(Screen):
    """Big tiles with pictures; a long list pages with 上一页 / 下一页 in a footer row."""

    def __init__(
        self,
        app,
        title: str,
        options: list[Option],
        *,
        prompt: str | None = None,
        footer: list[Option] | None = None,
        max_cols: int = 3,
    ) -> None:
        super().__init__(app)
        self._title = title
        self.page = Page(options)
        self.prompt = prompt
        self.footer = footer or []
        self.max_cols = max_cols

    def title(self) -> str:
        return self._title

    def next_page(self) -> None:
        self.page.index = (self.page.index + 1) % self.page.count
        self.refresh()

    def previous_page(self) -> None:
        self.page.index = (self.page.index - 1) % self.page.count
        self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        out: list[Widget] = []
        cols = 2 if area.width < 640 or self.max_cols == 2 else self.max_cols
        rows = min(3, layout.rows_fit(area.height, m.target, m.gap))
        paged = len(self.page.items) > rows * cols
        if paged:
            rows = min(3, layout.rows_fit(area.height - m.target - m.gap, m.target, m.gap))
        if self.footer or paged:
            area, foot = layout.split_v(area, [1.0, m.target], m.gap)
            parts = [1.0] * len(self.footer) + ([1.0, 1.0] if paged else [])
            cells = layout.split_h(foot, parts, m.gap)
            for cell, opt in zip(cells, self.footer, strict=False):
                out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
            if paged:
                self.page.per_page = rows * cols
                self.page.index = min(self.page.index, self.page.count - 1)
                where = f"{self.page.index + 1}/{self.page.count}"
                out.append(
                    Button(
                        "previous_page",
                        cells[-2],
                        f"{self.t('previous')} {where}",
                        self.previous_page,
                        "back",
                        "primary",
                        enabled=self.page.index > 0,
                    )
                )
                out.append(
                    Button(
                        "more",
                        cells[-1],
                        self.t("more"),
                        self.next_page,
                        "forward",
                        "primary",
                        enabled=self.page.index < self.page.count - 1,
                    )
                )
        self.page.per_page = rows * cols
        self.page.index = min(self.page.index, self.page.count - 1)
        cells = layout.grid(area, rows, cols, m.gap)
        for cell, opt in zip(cells, self.page.visible(), strict=False):
            out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        return out
