"""First registration: the name written by hand (or in pinyin), the phone, a PIN (which
may be skipped: the card is the key), the village; then the producer card.

A new farmer gets through in 15 taps plus writing the name: 第一次来, 确定 after the
name, the 11 digits of the phone (the pad goes on by itself), 跳过 for the PIN and the
village. Writing alternates between two boxes: starting a character in the other box
keeps the best guess for the last one, so a correctly recognised name needs no tap.
"""

from __future__ import annotations

import logging
import secrets
from functools import partial

import pygame

from kiosk.domain.validation import InputError
from kiosk.services.producers import load_villages
from ui import layout
from ui.pinyin import candidates, next_letters
from ui.screens.base import Screen
from ui.screens.common import ChoiceScreen, KeypadScreen, MessageScreen, Option
from ui.screens.farmer import PrintScreen, identified
from ui.widgets import Button, Icon, Label, Widget, WritingPad

log = logging.getLogger(__name__)

MAX_NAME = 8
#: Candidate characters shown at once (the rest page with 下一组).
CANDIDATES_SHOWN = 4


class NameScreen(Screen):
    """Write each character of the name by hand, or type its pinyin and pick it."""

    title_key = "name_title"
    prompt = "write_name"

    def __init__(self, app, on_done=None) -> None:
        super().__init__(app)
        self.name = app.session.draft.get("name", "")
        self.on_done = on_done or self.next_step
        self.recogniser = app.recogniser()
        self.mode = "write" if self.recogniser is not None else "pinyin"
        # pinyin
        self.letters = ""
        self.first = 0  # first candidate shown
        # handwriting: two boxes, their strokes, the best guesses for the active one
        self.pads: list[list[list[tuple[int, int]]]] = [[], []]
        self.active = 0
        self.guesses: list[str] = []
        self._pad_rects: list[pygame.Rect] = []
        self._drawing = False

    @property
    def wants_motion(self) -> bool:
        return self.mode == "write"

    def title(self) -> str:
        return self.t("write_name" if self.mode == "write" else "name_title")

    def shown(self) -> str:
        return self.name + (self.guesses[0] if self.guesses else "")

    # -- handwriting -------------------------------------------------------------

    def pointer(self, kind: str, pos: tuple[int, int]) -> bool:
        """Pen down, move and up inside a writing box (the loop offers every touch)."""
        if self.mode != "write":
            return False
        if kind == "down":
            hit = next((i for i, r in enumerate(self._pad_rects) if r.collidepoint(pos)), None)
            if hit is None:
                return False
            if hit != self.active:
                self.keep_guess()
                self.active = hit
            self.pads[hit].append([self._local(pos)])
            self._drawing = True
        elif kind == "move" and self._drawing:
            self.pads[self.active][-1].append(self._local(pos))
        elif kind == "up" and self._drawing:
            self._drawing = False
            self.pads[self.active][-1].append(self._local(pos))
            self.recognise()
        else:
            return False
        self.refresh()
        return True

    def _local(self, pos: tuple[int, int]) -> tuple[int, int]:
        rect = self._pad_rects[self.active]
        x = min(max(pos[0], rect.left), rect.right) - rect.x
        y = min(max(pos[1], rect.top), rect.bottom) - rect.y
        return (x, y)

    def recognise(self) -> None:
        strokes = self.pads[self.active]
        box = self._pad_rects[self.active].width if self._pad_rects else 100
        self.guesses = self.recogniser.recognise(strokes, box, 12) if self.recogniser else []

    def keep_guess(self) -> None:
        """The active box's best guess becomes part of the name; the box is emptied."""
        if self.guesses and len(self.name) < MAX_NAME:
            self.name += self.guesses[0]
        self.clear_pad()

    def clear_pad(self) -> None:
        self.pads[self.active] = []
        self.guesses = []
        self.refresh()

    def choose(self, char: str) -> None:
        """A candidate tapped: it replaces the best guess and the box is emptied."""
        if len(self.name) < MAX_NAME:
            self.name += char
        self.letters, self.first = "", 0
        self.clear_pad()

    def delete(self) -> None:
        if self.mode == "write" and self.pads[self.active]:
            self.clear_pad()
        elif self.mode == "pinyin" and self.letters:
            self.letters = self.letters[:-1]
            self.first = 0
        else:
            self.name = self.name[:-1]
        self.refresh()

    def switch(self) -> None:
        self.keep_guess()
        if self.mode == "write" or self.recogniser is None:
            self.mode = "pinyin"
        else:
            self.mode = "write"
        self.app.allow_motion(self.wants_motion)
        self.refresh()

    # -- pinyin ------------------------------------------------------------------

    def type(self, char: str) -> None:
        if char == "⌫":
            self.delete()
            return
        if len(self.letters) < 6:
            self.letters += char.lower()
            self.first = 0
        self.refresh()

    def pick(self, char: str) -> None:
        self.choose(char)

    def more_chars(self) -> None:
        found = len(candidates(self.letters))
        self.first = self.first + CANDIDATES_SHOWN
        if self.first >= found:
            self.first = 0
        self.refresh()

    # -- going on ----------------------------------------------------------------

    def done(self) -> None:
        self.keep_guess()
        if self.name:
            self.on_done(self.name)

    def next_step(self, name: str) -> None:
        self.app.session.draft["name"] = name
        self.app.push(
            KeypadScreen(self.app, "phone_title", self.phone, prompt=None, auto_submit=True)
        )

    def phone(self, phone: str) -> str | None:
        if self.app.producers.by_phone(phone):
            return InputError(
                "phone", "registered", "这个手机号已经登记过：请用手机号和密码进入"
            ).message
        if len(phone) != 11 or not phone.startswith("1"):
            return self.t("phone_format")
        self.app.session.draft["phone"] = phone
        skip = Option("skip_pin", self.t("skip_pin"), self.skip_pin, "card", "plain")
        self.app.push(
            KeypadScreen(
                self.app, "pin_title", self.pin, mask=True, max_len=8, prompt=None, skip=skip
            )
        )
        return None

    def skip_pin(self) -> None:
        """No PIN: the card is the farmer's key; phone login waits until staff set one."""
        self.app.session.draft["pin"] = f"{secrets.randbelow(10**8):08d}"
        self.app.push(village_screen(self.app))

    def pin(self, pin: str) -> str | None:
        if not 4 <= len(pin) <= 8:
            return self.t("pin_format")
        self.app.session.draft["pin"] = pin
        self.app.push(
            KeypadScreen(self.app, "pin_again", self.pin_again, mask=True, max_len=8, prompt=None)
        )
        return None

    def pin_again(self, pin: str) -> str | None:
        if pin != self.app.session.draft.get("pin"):
            return self.t("pin_mismatch")
        self.app.push(village_screen(self.app))
        return None

    # -- layout ------------------------------------------------------------------

    def body(self, area: pygame.Rect) -> list[Widget]:
        if self.mode == "write":
            return self.write_body(area)
        return self.pinyin_body(area)

    def write_body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, middle, bottom = layout.split_v(area, [m.target, 1.0, m.target], m.gap)
        heads = layout.split_h(top, [3.0, 1.0], m.gap)
        side = min(middle.height, (middle.width - 2 * m.gap) * 3 // 8)
        pads = [
            pygame.Rect(middle.x, middle.y, side, side),
            pygame.Rect(middle.x + side + m.gap, middle.y, side, side),
        ]
        self._pad_rects = pads
        right = pygame.Rect(
            pads[1].right + m.gap, middle.y, middle.right - pads[1].right - m.gap, middle.height
        )
        rows = min(4, layout.rows_fit(right.height, m.target, m.gap))
        cols = 2 if right.width >= 2 * m.target + m.gap else 1
        out: list[Widget] = [
            Label("name", heads[0], self.shown() or " ", m.big_px, frame=True),
            Button(
                "ok", heads[1], self.t("ok"), self.done, "check", "ok", enabled=bool(self.shown())
            ),
        ]
        for i, rect in enumerate(pads):
            out.append(
                WritingPad(
                    f"pad_{i}",
                    rect,
                    self.pads[i],
                    active=i == self.active,
                    hint=self.t("write_here") if not self.pads[i] else "",
                )
            )
        shown = self.guesses[1 : 1 + rows * cols] if self.guesses else []
        for cell, char in zip(layout.grid(right, rows, cols, m.gap), shown, strict=False):
            out.append(
                Button(
                    f"char_{char}",
                    cell,
                    char,
                    partial(self.choose, char),
                    style="selected",
                    max_px=m.big_px,
                )
            )
        feet = layout.split_h(bottom, [1.0, 1.0, 1.0], m.gap)
        out += [
            Button(
                "rewrite",
                feet[0],
                self.t("rewrite"),
                self.clear_pad,
                "pen",
                "plain",
                enabled=bool(self.pads[self.active]),
            ),
            Button(
                "letter_del",
                feet[1],
                self.t("clear"),
                self.delete,
                "back",
                "plain",
                enabled=bool(self.shown()),
            ),
            Button("use_pinyin", feet[2], self.t("use_pinyin"), self.switch, "keyboard", "plain"),
        ]
        return out

    def pinyin_body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, board = layout.split_v(area, [0.25, 0.75], m.gap)
        cells = layout.grid(top, 1, 9, m.gap)
        shown = (self.name + self.letters) or " "
        display = cells[0].union(cells[1])
        out: list[Widget] = [Label("name", display, shown, m.big_px, frame=True)]
        found = candidates(self.letters)
        page = found[self.first : self.first + CANDIDATES_SHOWN]
        for cell, char in zip(cells[2:6], page, strict=False):
            out.append(
                Button(
                    f"char_{char}",
                    cell,
                    char,
                    partial(self.pick, char),
                    style="selected",
                    max_px=m.big_px,
                )
            )
        if len(found) > CANDIDATES_SHOWN:
            out.append(
                Button(
                    "more_chars", cells[6], self.t("more_chars"), self.more_chars, style="primary"
                )
            )
        if self.recogniser is not None:
            out.append(Button("use_writing", cells[7], "", self.switch, "pen", "plain"))
        out.append(
            Button("ok", cells[8], self.t("ok"), self.done, style="ok", enabled=bool(self.name))
        )
        allowed = next_letters(self.letters)
        keys = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "⌫"]
        for cell, char in zip(layout.grid(board, 3, 9, m.gap), keys, strict=True):
            if char == "⌫":
                out.append(
                    Button(
                        "letter_del", cell, self.t("clear"), lambda: self.type("⌫"), style="plain"
                    )
                )
            else:
                out.append(
                    Button(
                        f"letter_{char}",
                        cell,
                        char,
                        partial(self.type, char),
                        style="plain",
                        enabled=char.lower() in allowed,
                    )
                )
        return out


def village_screen(app) -> ChoiceScreen:
    options = [
        Option(
            f"village_{v.code}",
            app.i18n.name(v.name, v.name_en),
            partial(register, app, v.name),
            "home",
        )
        for v in load_villages()
    ]
    return ChoiceScreen(app, app.i18n.t("village_title"), options)


def register(app, village: str) -> None:
    """Register the drafted farmer on the PIN worker (hashing the PIN costs 0.2-0.8 s,
    dozens of frames), then print her card; a second tap meanwhile does nothing."""
    if app.device_busy("pin"):
        return
    draft = dict(app.session.draft)
    waiting = MessageScreen(
        app, "register_title", app.i18n.t("registering"), icon="card", style="plain",
        prompt=None, show_back=False,
    )  # fmt: skip

    def work(services, control):
        try:
            return services.producers.register(draft["name"], draft["phone"], village, draft["pin"])
        except InputError as error:
            return error

    def done(kind: str, data: dict) -> None:
        if waiting not in app.stack:
            log.info("a registration answered after its screen was left")
            return
        app.back()  # the waiting screen
        outcome = data.get("result") if kind == "job_done" else None
        if isinstance(outcome, InputError):
            app.push(MessageScreen(app, "problem_title", outcome.message, style="warn"))
        elif outcome is None:
            log.error("registration failed: %s", data.get("error"))
            app.push(MessageScreen(app, "problem_title", app.i18n.t("failed_plain")))
        else:
            registered(app, outcome)

    app.push(waiting)
    app.run_job(None, "pin", work, label="register", expected_s=5.0, on_finish=done)


def registered(app, producer) -> None:
    """The farmer is on the books: she is now the session's, and her card prints."""
    app.session.draft = {}
    app.session.producer = producer
    size = (480, 320)

    def job(services, control):
        services.producers.print_card(producer, services.printer, size, control.progress)

    app.push(PrintScreen(app, job, 1, done_screen=lambda: CardDoneScreen(app), label="card"))


class CardDoneScreen(Screen):
    title_key = "card_done"
    prompt = "take_labels"
    show_back = False

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target], m.gap)
        icon, words = layout.split_h(top, [1.0, 2.0], m.gap)
        return [
            Icon("card_icon", icon.inflate(-m.gap, -m.gap), "card", (0, 66, 138)),
            Label("card_text", words, self.t("card_done"), m.big_px),
            Button("start_now", bottom, self.t("start_now"), self.start, "check", "ok"),
        ]

    def start(self) -> None:
        identified(self.app, self.app.session.who())
