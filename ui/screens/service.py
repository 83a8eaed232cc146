"""Out of service: the whole screen says why, what to do, and calls staff with one tap.

Shown instead of the home screen when the printer is missing, out of paper, has its
cover open or reports a fault, when the disk is full, when the clock cannot date a
certificate (kiosk/infra/timetrust.py), or when the county has put a
hold on the whole kiosk. The loop watches the causes and leaves the page by itself as
soon as none is left; staff and the technician can still get in.
"""

from __future__ import annotations

import pygame

from drivers.indicators import BuzzerPattern, LightState
from ui import layout
from ui.screens.base import Screen
from ui.widgets import Alert, Button, Label, Widget


class OutOfServiceScreen(Screen):
    show_back = show_home = False
    prompt = "out_of_service"
    farmer = False
    idle_clears = False

    def __init__(self, app, problems: list[str]) -> None:
        super().__init__(app)
        self.problems = problems
        self.called = False

    def title(self) -> str:
        return self.t(f"{self.problems[0]}_title") if self.problems else self.t("oos_title")

    def on_enter(self) -> None:
        super().on_enter()
        self.app.signal(light=LightState.FAULT)
        self.app.speak(self.words())

    def words(self) -> str:
        clock = self.app.clock_problem or ("", "")
        text = clock[1] if self.app.i18n.language == "en" else clock[0]
        lines = [self.t(p, reason=self.app.kiosk_hold or "", clock=text) for p in self.problems]
        return "\n".join(lines)

    def call_staff(self) -> None:
        """Raise the help alarm (the county and the station see it) and sound the buzzer."""
        self.called = True
        self.app.signal(BuzzerPattern.ATTENTION)
        self.app.kiosk.alarms.raise_(
            "help_button",
            "warning",
            "停用页上有人呼叫工作人员：" + "；".join(self.problems),
            {"problems": self.problems},
        )
        self.app.say("out_of_service")
        self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, note, bottom = layout.split_v(area, [1.0, m.body_px + 16, m.target], m.gap)
        feet = layout.split_h(bottom, [2.0, 1.0, 1.0], m.gap)
        from ui.screens.staff import open_staff
        from ui.screens.technician import open_technician

        return [
            Alert("oos", top, self.words(), "warning", style="danger"),
            Label("oos_note", note, self.t("oos_recovers"), m.body_px),
            Button(
                "call_staff",
                feet[0],
                self.t("staff_called" if self.called else "call_staff"),
                self.call_staff,
                "bell",
                "warn",
                max_px=m.big_px,
            ),
            Button(
                "staff", feet[1], self.t("staff"), lambda: open_staff(self.app), "flask", "plain"
            ),
            Button(
                "technician",
                feet[2],
                self.t("technician"),
                lambda: open_technician(self.app),
                "gear",
                "plain",
            ),
        ]
