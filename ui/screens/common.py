"""Reusable screens: a message with next steps, a big keypad, a paged choice of tiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pygame

from ui import layout
from ui.screens.base import Screen
from ui.widgets import Button, Icon, Label, Page, Widget


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
    ) -> None:
        super().__init__(app)
        self.title_key = title_key
        self.text = text
        self.icon = icon
        self.style = style
        self.actions = actions or []
        self.prompt = prompt
        self.show_back = show_back

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        heights = [1.0, m.target] if self.actions else [1.0]
        rows = layout.split_v(area, heights, m.gap)
        side = min(rows[0].height, rows[0].width // 4)
        icon_box = pygame.Rect(rows[0].x, rows[0].y, side, side)
        colour = {"danger": (180, 0, 0), "ok": (0, 105, 45)}.get(self.style, (17, 17, 17))
        text_box = pygame.Rect(
            icon_box.right + m.gap,
            rows[0].y,
            rows[0].right - icon_box.right - m.gap,
            rows[0].height,
        )
        out: list[Widget] = [
            Icon("message_icon", icon_box.inflate(-m.gap, -m.gap), self.icon, colour),
            Label("message", text_box, self.text, m.big_px, align="left"),
        ]
        if self.actions:
            cells = layout.split_h(rows[1], [1.0] * len(self.actions), m.gap)
            for cell, opt in zip(cells, self.actions, strict=True):
                out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        return out


class KeypadScreen(Screen):
    """Digits on a large keypad: phone numbers, PINs and quantities.

    ``on_done(value)`` returns None when the value was taken, else the words to show.
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
    ) -> None:
        super().__init__(app)
        self.title_key = title_key
        self.title_values = title_values or {}
        self.on_done = on_done
        self.mask = mask
        self.decimal = decimal
        self.max_len = max_len
        self.prompt = prompt
        self.value = ""
        self.error = ""

    def title(self) -> str:
        return self.t(self.title_key, **self.title_values)

    def press(self, char: str) -> None:
        self.error = ""
        if char == "⌫":
            self.value = self.value[:-1]
        elif char == "." and ("." in self.value or not self.decimal):
            return
        elif len(self.value) < self.max_len:
            self.value += char
        self.refresh()

    def submit(self) -> None:
        error = self.on_done(self.value)
        if error:
            self.error = error
            self.value = "" if self.mask else self.value
        self.refresh()

    def shown(self) -> str:
        return "●" * len(self.value) if self.mask else self.value

    def side_widgets(self, area: pygame.Rect) -> list[Widget]:
        """The left column under the display: the error and the OK button."""
        m = self.app.metrics
        rows = layout.split_v(area, [1.0, m.target], m.gap)
        return [
            Label("error", rows[0], self.error, m.body_px, align="left"),
            Button("ok", rows[1], self.t("ok"), self.submit, "check", "ok"),
        ]

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
                    lambda c=char: self.press(c),
                    style="plain",
                    max_px=m.big_px,
                )
            )
        return out


class ChoiceScreen(Screen):
    """A few big tiles per page; a long list pages with 下一页."""

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

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        out: list[Widget] = []
        if self.footer:
            area, foot = layout.split_v(area, [1.0, m.target], m.gap)
            cells = layout.split_h(foot, [1.0] * len(self.footer), m.gap)
            for cell, opt in zip(cells, self.footer, strict=True):
                out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        cols = 2 if area.width < 900 or self.max_cols == 2 else self.max_cols
        rows = min(3, layout.rows_fit(area.height, m.target, m.gap))
        per_page = rows * cols
        if len(self.page.items) > per_page:
            per_page -= 1  # the last tile turns the page
        self.page.per_page = per_page
        self.page.index = min(self.page.index, self.page.count - 1)
        cells = layout.grid(area, rows, cols, m.gap)
        for cell, opt in zip(cells, self.page.visible(), strict=False):
            out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        if self.page.count > 1:
            out.append(
                Button(
                    "more",
                    cells[-1],
                    f"{self.t('more')} {self.page.index + 1}/{self.page.count}",
                    self.next_page,
                    "list",
                    "primary",
                )
            )
        return out
