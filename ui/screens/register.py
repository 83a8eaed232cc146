"""First registration: name by pinyin, phone, PIN twice, village; then the producer card."""

from __future__ import annotations

import pygame

from kiosk.domain.validation import InputError
from kiosk.services.producers import load_villages
from ui import layout
from ui.pinyin import candidates, next_letters
from ui.screens.base import Screen
from ui.screens.common import ChoiceScreen, KeypadScreen, MessageScreen, Option
from ui.screens.farmer import PrintScreen, identified
from ui.widgets import Button, Icon, Label, Widget


class NameScreen(Screen):
    """Type a syllable in pinyin, tap the character; repeat for each character of the name."""

    title_key = "name_title"
    prompt = "identify"

    def __init__(self, app, on_done=None) -> None:
        super().__init__(app)
        self.name = app.session.draft.get("name", "")
        self.letters = ""
        self.on_done = on_done or self.next_step

    def type(self, char: str) -> None:
        if char == "⌫":
            if self.letters:
                self.letters = self.letters[:-1]
            else:
                self.name = self.name[:-1]
        elif len(self.letters) < 6:
            self.letters += char.lower()
        self.refresh()

    def pick(self, char: str) -> None:
        if len(self.name) < 8:
            self.name += char
        self.letters = ""
        self.refresh()

    def done(self) -> None:
        if self.name:
            self.on_done(self.name)

    def next_step(self, name: str) -> None:
        self.app.session.draft["name"] = name
        self.app.push(KeypadScreen(self.app, "phone_title", self.phone, prompt=None))

    def phone(self, phone: str) -> str | None:
        if self.app.producers.by_phone(phone):
            return InputError(
                "phone", "registered", "这个手机号已经登记过：请用手机号和密码进入"
            ).message
        if len(phone) != 11 or not phone.startswith("1"):
            return "手机号应为11位数字，以1开头" if not self.app.i18n.is_en else "11 digits, 1..."
        self.app.session.draft["phone"] = phone
        self.app.push(
            KeypadScreen(self.app, "pin_title", self.pin, mask=True, max_len=8, prompt=None)
        )
        return None

    def pin(self, pin: str) -> str | None:
        if not 4 <= len(pin) <= 8:
            return "密码须为4到8位数字" if not self.app.i18n.is_en else "PIN: 4 to 8 digits"
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

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, board = layout.split_v(area, [0.25, 0.75], m.gap)
        cells = layout.grid(top, 1, 9, m.gap)
        shown = (self.name + self.letters) or " "
        display = cells[0].union(cells[1])
        out: list[Widget] = [Label("name", display, shown, m.big_px, frame=True)]
        for cell, char in zip(cells[2:7], candidates(self.letters, 5), strict=False):
            out.append(
                Button(
                    f"char_{char}",
                    cell,
                    char,
                    lambda c=char: self.pick(c),
                    style="selected",
                    max_px=m.big_px,
                )
            )
        out.append(
            Button(
                "ok",
                cells[7].union(cells[8]),
                self.t("ok"),
                self.done,
                "check",
                "ok",
                enabled=bool(self.name),
            )
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
                        lambda c=char: self.type(c),
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
            lambda v=v: register(app, v.name),
            "home",
        )
        for v in load_villages()
    ]
    return ChoiceScreen(app, app.i18n.t("village_title"), options)


def register(app, village: str) -> None:
    draft = app.session.draft
    try:
        producer = app.producers.register(draft["name"], draft["phone"], village, draft["pin"])
    except InputError as error:
        app.push(MessageScreen(app, "problem_title", error.message, style="warn"))
        return
    app.session.draft = {}
    app.session.producer = producer
    size = (480, 320)

    def job(progress):
        app.producers.print_card(producer, app.kiosk.printer, size, progress)

    app.push(PrintScreen(app, job, 1, done_screen=lambda: CardDoneScreen(app)))


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
        identified(self.app, self.app.session.producer)
