"""A screen: a title bar with 返回 and 首页, a body of widgets, and what it does with a scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pygame

from ui import layout
from ui.widgets import Button, Label, Widget

if TYPE_CHECKING:
    from ui.loop import App


class Screen:
    """Subclasses set ``title_key`` (or override ``title``) and implement ``body``."""

    title_key = "home_title"
    #: The spoken prompt on entering, if any (ui/audio.py PROMPTS).
    prompt: str | None = None
    show_back = True
    show_home = True
    #: While True the idle timeout does not send the screen home (a print in progress).
    busy = False
    #: Part of the farmers' flow: the out-of-service page may take its place.
    farmer = True
    #: Whether an out-of-service cause sends this screen home (a print screen that is
    #: explaining a paper-out keeps its "continue" instead).
    yields_to_service = True
    #: Whether being left alone warns and then clears the session.
    idle_clears = True

    @property
    def wants_motion(self) -> bool:
        """Finger movements are delivered (a writing box); other screens never wake for
        them."""
        return False

    def __init__(self, app: App) -> None:
        self.app = app
        self.widgets: list[Widget] = []

    @property
    def t(self):
        return self.app.i18n.t

    def title(self) -> str:
        return self.t(self.title_key)

    def build(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        bar = pygame.Rect(area.x, area.y, area.width, m.bar_height)
        body = pygame.Rect(
            area.x + m.gap,
            bar.bottom + m.gap,
            area.width - 2 * m.gap,
            area.bottom - bar.bottom - 2 * m.gap,
        )
        nav_w = max(m.target, int(m.target * 1.9))
        cols = layout.split_h(
            bar.inflate(-2 * m.gap, -m.gap), [nav_w, bar.width - 2 * nav_w, nav_w], m.gap
        )
        widgets: list[Widget] = []
        if self.show_back:
            widgets.append(
                Button("back", cols[0], self.t("back"), self.app.back, icon="back", style="nav")
            )
        widgets.append(Label("title", cols[1], self.title(), m.title_px, style="bar"))
        if self.show_home:
            widgets.append(
                Button("home", cols[2], self.t("home"), self.app.go_home, icon="home", style="nav")
            )
        widgets.extend(self.body(body))
        return widgets

    def body(self, area: pygame.Rect) -> list[Widget]:
        return []

    # -- events --------------------------------------------------------------------

    def on_enter(self) -> None:
        if self.prompt:
            self.app.say(self.prompt)

    def pointer(self, kind: str, pos: tuple[int, int]) -> bool:
        """A touch going "down", "move" or "up" at ``pos``; True when the screen took it
        (a writing box), False to let it be a tap."""
        return False

    def on_scan(self, code: str) -> bool:
        """Handle a scan; False means this screen is not waiting for one (it is ignored)."""
        return False

    def on_message(self, kind: str, data: dict[str, Any]) -> None:
        """A message from a background job or device (progress, done, weight)."""

    def tick(self, now: float) -> float | None:
        """Periodic work; returns when to be called next (monotonic seconds) or None."""
        return None

    def refresh(self) -> None:
        self.app.invalidate()
