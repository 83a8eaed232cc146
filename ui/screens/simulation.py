"""The simulation bench on the technician's side: inject what the devices would do.

Only in simulation (``config.device.simulation``), and only through the simulator
classes' own controls: the simulated scanner's ``scan()``, the simulated printer's
``simulated_device`` (paper out, offline) and the simulated reader's ``controls`` (the
next sample positive). Anyone can then demo every flow from ``scripts/kiosk-sim``.
"""

from __future__ import annotations

import logging

import pygame

from ui import layout
from ui.screens.base import Screen
from ui.widgets import Button, Label, Widget

log = logging.getLogger(__name__)


class SimulationScreen(Screen):
    title_key = "sim_title"
    farmer = False

    def __init__(self, app) -> None:
        super().__init__(app)
        self.note = ""

    def _device(self):
        return getattr(self.app.kiosk.printer, "simulated_device", None)

    def _scan(self, code: str, what: str) -> None:
        scanner = self.app.kiosk.scanner
        scan = getattr(scanner, "scan", None)  # only the simulated scanner has the control
        if scan is not None:
            scan(code)  # typed through the real decoder path
        else:  # no simulated scanner attached (tests, headless): the loop's own path
            self.app.post("scan", None, code=code)
        self.done(what)

    def card(self) -> None:
        found = self.app.producers.by_phone("13812345678")
        producer = found[0] if found else None
        if producer is None:
            producer = self.app.producers.register("张秀英", "13812345678", "示范村", "2580")
        self.app.go_home(greet=False)
        self._scan(producer.card_code, "sim_card")

    def sample(self) -> None:
        now = self.app.kiosk.clock()
        self._scan(f"SIM-S{now:%H%M%S}", "sim_sample")

    def paper(self) -> None:
        device = self._device()
        if device is None:
            return
        if device.paper_out:
            device.load_paper()
            self.done("sim_paper_in")
        else:
            device.load_paper(0)
            self.done("sim_paper_out")

    def online(self) -> None:
        device = self._device()
        if device is None:
            return
        if device.offline:
            device.go_online()
            self.done("sim_online")
        else:
            device.go_offline()
            self.done("sim_offline")

    def positive(self) -> None:
        controls = getattr(self.app.kiosk.reader, "controls", None)
        if controls is None:
            return
        for channel in range(1, 8):
            controls.load_enzyme_sample(channel, inhibitor=2.0)  # ~75 % inhibition
        controls.load_strip(ratio=0.2)
        self.done("sim_positive")

    def done(self, key: str) -> None:
        self.note = self.t("sim_note", what=self.t(key))
        log.warning("simulation: %s", self.t(key))
        self.app.forget_printer_status()
        self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, grid_area = layout.split_v(area, [m.body_px * 2 + 4, 1.0], m.gap)
        device = self._device()
        reader = getattr(self.app.kiosk.reader, "controls", None)
        paper = "sim_paper_in" if device is not None and device.paper_out else "sim_paper_out"
        online = "sim_online" if device is not None and device.offline else "sim_offline"
        cells = layout.grid(grid_area, 2, 3, m.gap)
        return [
            Label("sim_note", top, self.note or self.t("sim_title"), m.body_px, style="warn"),
            Button("sim_card", cells[0], self.t("sim_card"), self.card, "card", "plain"),
            Button("sim_sample", cells[1], self.t("sim_sample"), self.sample, "barcode", "plain"),
            Button(
                "sim_paper",
                cells[2],
                self.t(paper),
                self.paper,
                "printer",
                "plain",
                enabled=device is not None,
            ),
            Button(
                "sim_online",
                cells[3],
                self.t(online),
                self.online,
                "printer",
                "plain",
                enabled=device is not None,
            ),
            Button(
                "sim_positive",
                cells[4],
                self.t("sim_positive"),
                self.positive,
                "flask",
                "plain",
                enabled=reader is not None,
            ),
        ]
