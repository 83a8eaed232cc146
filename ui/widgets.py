"""Widgets: boxes that draw themselves and, for buttons, answer a tap.

Every piece of text goes through ``Canvas.text``, which fits it into its widget and
records where it landed: the layout tests read that record to prove nothing is
clipped, too small or overlapping, at every screen size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pygame

from ui import theme
from ui.icons import draw_icon
from ui.text import Fonts, fit
from ui.theme import MIN_TEXT_PX

log = logging.getLogger(__name__)


@dataclass
class TextRecord:
    widget: str
    box: pygame.Rect
    rect: pygame.Rect
    size: int
    fits: bool
    text: str


class Canvas:
    """The surface plus fonts, and a log of every text placement for the tests."""

    def __init__(self, surface: pygame.Surface, fonts: Fonts, metrics: theme.Metrics) -> None:
        self.surface = surface
        self.fonts = fonts
        self.metrics = metrics
        self.texts: list[TextRecord] = []

    def text(
        self,
        owner: str,
        text: str,
        box: pygame.Rect,
        max_px: int,
        color: tuple[int, int, int],
        align: str = "center",
        min_px: int = MIN_TEXT_PX,
    ) -> None:
        size, lines, fits = fit(self.fonts, text, box.width, box.height, max_px, min_px)
        if not fits:
            log.debug("text does not fit %s: %r", owner, text)
        font = self.fonts.get(size)
        line_h = font.get_linesize()
        total = pygame.Rect(box.x, box.y, 0, 0)
        y = box.y + max(0, (box.height - line_h * len(lines)) // 2)
        for line in lines:
            image = font.render(line, True, color)
            rect = image.get_rect()
            rect.y = y
            if align == "left":
                rect.x = box.x
            else:
                rect.centerx = box.centerx
            self.surface.blit(image, rect)
            total = rect.copy() if total.width == 0 else total.union(rect)
            y += line_h
        self.texts.append(TextRecord(owner, box.copy(), total, size, fits, text))


@dataclass(eq=False)
class Widget:
    key: str
    rect: pygame.Rect

    tappable = False

    def draw(self, canvas: Canvas) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(eq=False)
class Label(Widget):
    text: str = ""
    max_px: int = 0
    style: str = "text"
    align: str = "center"
    frame: bool = False

    def draw(self, canvas: Canvas) -> None:
        bg, fg = theme.STYLES[self.style]
        if self.style != "text":
            pygame.draw.rect(canvas.surface, bg, self.rect, 0, 8)
        if self.frame:
            pygame.draw.rect(canvas.surface, theme.FRAME, self.rect, 3, 8)
        pad = 10 if self.style != "text" or self.frame else 0
        box = self.rect.inflate(-2 * pad, -2 * pad)
        canvas.text(self.key, self.text, box, self.max_px or canvas.metrics.body_px, fg, self.align)


@dataclass(eq=False)
class Button(Widget):
    text: str = ""
    on_tap: Callable[[], None] | None = None
    icon: str | None = None
    style: str = "primary"
    max_px: int = 0
    enabled: bool = True
    pressed: bool = False

    @property
    def tappable(self) -> bool:  # type: ignore[override]  # a property over the base's plain attribute
        return self.enabled and self.on_tap is not None

    def draw(self, canvas: Canvas) -> None:
        style = self.style if self.enabled else "disabled"
        bg, fg = theme.STYLES[style]
        if self.pressed:
            bg = (max(0, bg[0] - 40), max(0, bg[1] - 40), max(0, bg[2] - 40))
        pygame.draw.rect(canvas.surface, bg, self.rect, 0, 12)
        frame = theme.FRAME if self.enabled else theme.DISABLED
        pygame.draw.rect(canvas.surface, frame, self.rect, 2 if self.enabled else 1, 12)
        inner = self.rect.inflate(-16, -12)
        if self.icon and self.text:
            side = min(inner.height, inner.width // 3, canvas.metrics.target)
            icon_box = pygame.Rect(inner.x, inner.centery - side // 2, side, side)
            stacked = inner.height >= side * 2 and inner.width < side * 3
            if stacked:  # tall narrow tile: picture above the word
                side = min(inner.width, inner.height // 2)
                icon_box = pygame.Rect(inner.centerx - side // 2, inner.y, side, side)
                text_box = pygame.Rect(inner.x, inner.y + side, inner.width, inner.height - side)
            else:
                text_box = pygame.Rect(
                    icon_box.right + 8, inner.y, inner.right - icon_box.right - 8, inner.height
                )
            draw_icon(canvas.surface, self.icon, icon_box.inflate(-6, -6), fg)
        elif self.icon:
            draw_icon(canvas.surface, self.icon, inner, fg)
            return
        else:
            text_box = inner
        canvas.text(self.key, self.text, text_box, self.max_px or canvas.metrics.big_px, fg)


@dataclass(eq=False)
class Picture(Widget):
    image: pygame.Surface | None = None
    frame: bool = True

    def draw(self, canvas: Canvas) -> None:
        if self.image is not None:
            w, h = self.image.get_size()
            scale = min(self.rect.width / w, self.rect.height / h)
            size = (max(1, int(w * scale)), max(1, int(h * scale)))
            scaled = pygame.transform.smoothscale(self.image, size)
            at = scaled.get_rect(center=self.rect.center)
            canvas.surface.blit(scaled, at)
            if self.frame:
                pygame.draw.rect(canvas.surface, theme.FRAME, at.inflate(4, 4), 2)


@dataclass(eq=False)
class Progress(Widget):
    """Words above a bar: nothing covers the bar, so it is seen to move."""

    fraction: float = 0.0
    text: str = ""

    def draw(self, canvas: Canvas) -> None:
        bar = self.rect.copy()
        if self.text:
            words_h = max(MIN_TEXT_PX + 8, self.rect.height * 11 // 20)
            words = pygame.Rect(self.rect.x, self.rect.y, self.rect.width, words_h)
            bar = pygame.Rect(
                self.rect.x, words.bottom + 2, self.rect.width, self.rect.bottom - words.bottom - 2
            )
            canvas.text(self.key, self.text, words, canvas.metrics.body_px, theme.INK)
        pygame.draw.rect(canvas.surface, theme.PLAIN, bar, 0, 8)
        done = bar.copy()
        done.width = round(bar.width * max(0.0, min(1.0, self.fraction)))
        if done.width:
            pygame.draw.rect(canvas.surface, theme.PRIMARY, done, 0, 8)
        pygame.draw.rect(canvas.surface, theme.FRAME, bar, 2, 8)


@dataclass(eq=False)
class Alert(Widget):
    """A problem or a notice: tinted box, coloured frame, icon, words at least body size."""

    text: str = ""
    icon: str = "warning"
    style: str = "danger"
    #: Body-size words (an error under a keypad) instead of large ones (a whole page).
    compact: bool = False

    def draw(self, canvas: Canvas) -> None:
        tint, ink = theme.ALERTS.get(self.style, theme.ALERTS["plain"])
        pygame.draw.rect(canvas.surface, tint, self.rect, 0, 10)
        pygame.draw.rect(canvas.surface, ink, self.rect, 3, 10)
        inner = self.rect.inflate(-16, -12)
        side = min(
            inner.height, inner.width // 4, canvas.metrics.target * (1 if self.compact else 2)
        )
        icon_box = pygame.Rect(inner.x, inner.y + (inner.height - side) // 2, side, side)
        if self.compact:
            icon_box.y = inner.y
        draw_icon(canvas.surface, self.icon, icon_box, ink)
        box = pygame.Rect(icon_box.right + 10, inner.y, inner.right - icon_box.right - 10,
                          inner.height)  # fmt: skip
        m = canvas.metrics
        canvas.text(
            self.key,
            self.text,
            box,
            m.body_px if self.compact else m.big_px,
            ink,
            "left",
            min_px=m.body_px,
        )


@dataclass(eq=False)
class Icon(Widget):
    name: str = ""
    color: tuple[int, int, int] = theme.INK

    def draw(self, canvas: Canvas) -> None:
        draw_icon(canvas.surface, self.name, self.rect, self.color)


@dataclass(eq=False)
class WritingPad(Widget):
    """A box to write one character in: a grid to guide the hand, the strokes in ink."""

    strokes: list = field(default_factory=list)
    active: bool = False
    hint: str = ""

    def draw(self, canvas: Canvas) -> None:
        surface = canvas.surface
        pygame.draw.rect(surface, theme.WHITE, self.rect, 0, 6)
        guide = (200, 200, 200)
        r = self.rect
        pygame.draw.line(surface, guide, (r.centerx, r.top), (r.centerx, r.bottom), 1)
        pygame.draw.line(surface, guide, (r.left, r.centery), (r.right, r.centery), 1)
        frame = theme.PRIMARY if self.active else theme.FRAME
        pygame.draw.rect(surface, frame, r, 4 if self.active else 2, 6)
        if self.hint:
            box = r.inflate(-16, -16)
            canvas.text(self.key, self.hint, box, canvas.metrics.body_px, (120, 120, 120))
        width = max(4, r.width // 40)
        for stroke in self.strokes:
            points = [(r.x + x, r.y + y) for x, y in stroke]
            if len(points) > 1:
                pygame.draw.lines(surface, theme.INK, False, points, width)
            for point in points[:1] + points[-1:]:
                pygame.draw.circle(surface, theme.INK, point, width // 2)


@dataclass
class Page:
    """Paging over a long list of options: few choices per screen."""

    items: list = field(default_factory=list)
    per_page: int = 6
    index: int = 0

    @property
    def count(self) -> int:
        return max(1, -(-len(self.items) // self.per_page))

    def visible(self) -> list:
        start = self.index * self.per_page
        return self.items[start : start + self.per_page]
