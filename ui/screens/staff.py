"""Staff mode: samples, reader runs with a countdown, verdicts in colour and words, holds."""

from __future__ import annotations

import logging
from typing import Protocol

import pygame

from drivers.printer.document import LabelDocument, QrBlock, TextBlock
from kiosk.domain.validation import InputError
from kiosk.services.rapidtest import RapidTestError, RunOutcome, SampleSlot, TestResult
from kiosk.services.staff import LockedOut
from ui import layout
from ui.screens.base import Screen
from ui.screens.common import ChoiceScreen, KeypadScreen, MessageScreen, Option
from ui.screens.farmer import InputsScreen, PrintScreen, locked_text, product_screen
from ui.widgets import Button, Label, Progress, Widget

log = logging.getLogger(__name__)

VERDICT_STYLE = {"negative": "ok", "suspicious": "warn", "positive": "danger", "invalid": "plain"}


class RapidTests(Protocol):
    """What staff mode needs of kiosk.services.rapidtest.RapidTestService."""

    def register_sample(self, sample_id: str, **kw) -> object: ...
    def run_enzyme(self, method_id: str, slots, **kw) -> RunOutcome: ...
    def run_strip(self, method_id: str, sample_id: str, **kw) -> RunOutcome: ...
    def results(self, sample_id: str | None = None, limit: int = 50) -> list[TestResult]: ...


def open_staff(app, role: str = "staff") -> None:
    """The PIN pad for a role; the right PIN opens its menu."""
    from ui.screens.technician import TechnicianScreen

    def entered(pin: str) -> str | None:
        if not app.staff.has_pin(role):
            return app.i18n.t("no_pin_set")
        try:
            ok = app.staff.check(role, pin)
        except LockedOut as error:
            return locked_text(app, error)
        if not ok:
            return app.i18n.t("wrong_pin", left=app.staff.limiter.remaining(role))
        app.replace(StaffScreen(app) if role == "staff" else TechnicianScreen(app))
        return None

    title = "staff_pin" if role == "staff" else "tech_pin"
    app.push(KeypadScreen(app, title, entered, mask=True, max_len=8, prompt=None))


class StaffScreen(ChoiceScreen):
    def __init__(self, app) -> None:
        t = app.i18n.t
        options = [
            Option(
                "register_sample",
                t("register_sample"),
                lambda: app.push(SampleScreen(app)),
                "barcode",
                "primary",
            ),
            Option(
                "start_run",
                t("start_run"),
                lambda: app.push(method_screen(app)),
                "flask",
                "primary",
            ),
            Option(
                "results",
                t("results"),
                lambda: app.push(ResultsScreen(app, app.kiosk.rapid_tests.results(limit=12))),
                "list",
            ),
            Option("holds", t("holds"), lambda: app.push(HoldsScreen(app)), "warning"),
        ]
        super().__init__(app, t("staff_title"), options, max_cols=2)


class SampleScreen(Screen):
    """Scan a sample barcode (or print a new one), then its producer, product and inputs."""

    title_key = "sample_title"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.sample_id: str | None = None
        self.producer = None
        self.message = ""

    def on_scan(self, code: str) -> bool:
        if self.sample_id is None:
            self.sample_id = code.strip()
        else:
            producer = self.app.producers.by_scan(code)
            if producer is None:
                self.message = self.t("unknown_card")
            else:
                self.set_producer(producer)
        self.refresh()
        return True

    def new_barcode(self) -> None:
        now = self.app.kiosk.clock()
        self.sample_id = f"{self.app.kiosk.config.device.device_id}-S{now:%y%m%d%H%M%S}"
        doc = LabelDocument(
            480,
            320,
            (
                QrBlock(16, 16, self.sample_id, 8, "M", 2),
                TextBlock(232, 40, "样品", 48),
                TextBlock(232, 120, self.sample_id, 16),
            ),
        )
        printer = self.app.kiosk.printer
        self.app.push(
            PrintScreen(
                self.app,
                lambda progress: printer.print_label(doc, 1, progress),
                1,
                done_screen=lambda: self,
            )
        )

    def by_phone(self) -> None:
        def entered(phone: str) -> str | None:
            found = self.app.producers.by_phone(phone)
            if not found:
                return self.t("unknown_phone")
            self.app.stack.pop()
            self.set_producer(found[0])
            return None

        self.app.push(KeypadScreen(self.app, "phone_title", entered, prompt=None))

    def set_producer(self, producer) -> None:
        self.producer = producer
        self.app.push(product_screen(self.app, self.product_chosen))

    def product_chosen(self, app, product) -> None:
        def inputs(app, used: tuple[str, ...]) -> None:
            try:
                app.kiosk.rapid_tests.register_sample(
                    self.sample_id,
                    producer_name=self.producer.name,
                    phone=self.producer.phone,
                    producer_id=self.producer.producer_id,
                    product_code=product.code,
                    inputs_used=used,
                )
            except (InputError, RapidTestError) as error:
                app.push(MessageScreen(app, "problem_title", error.message, style="warn"))
                return
            text = app.i18n.t(
                "sample_saved", sample=self.sample_id, product=product.name, name=self.producer.name
            )
            app.unwind_to(StaffScreen)
            app.push(MessageScreen(app, "done", text, icon="check", style="ok", prompt=None))

        app.push(InputsScreen(app, product, inputs))

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        rows = layout.split_v(area, [1.0, m.target], m.gap)
        if self.sample_id is None:
            text = self.message or self.t("sample_title")
            return [
                Label("sample_prompt", rows[0], text, m.big_px),
                Button("new_barcode", rows[1], self.t("new_barcode"), self.new_barcode, "barcode"),
            ]
        text = self.message or self.t("sample_producer", sample=self.sample_id)
        return [
            Label("sample_prompt", rows[0], text, m.big_px),
            Button("phone", rows[1], self.t("start_phone"), self.by_phone, "phone"),
        ]


def method_screen(app) -> ChoiceScreen:
    methods = app.kiosk.rapid_tests.methods.methods.values()
    options = [
        Option(
            f"method_{m.id}",
            app.i18n.name(m.name, m.name_en),
            lambda m=m: app.push(AssignScreen(app, m)),
            "flask",
        )
        for m in methods
    ]
    return ChoiceScreen(app, app.i18n.t("method_title"), options, max_cols=2)


def waiting_samples(app, method) -> list:
    """Registered samples this method fits that still need a result."""
    return app.kiosk.rapid_tests.waiting_samples(method.id)


class AssignScreen(Screen):
    """Tap samples into reader channels (channel 0 is the enzyme control), then start."""

    def __init__(self, app, method, preset: list[str] | None = None) -> None:
        super().__init__(app)
        self.method = method
        self.samples = waiting_samples(app, method)
        self.assigned: list[str] = [
            s for s in (preset or []) if s in {x.sample_id for x in self.samples}
        ]
        self.channels = 1 if method.kind == "strip" else 7

    def title(self) -> str:
        if not self.samples:
            return self.t("no_samples")
        return self.t("assign_title", channel=len(self.assigned) + 1, control=0)

    def toggle(self, sample_id: str) -> None:
        if sample_id in self.assigned:
            self.assigned.remove(sample_id)
        elif len(self.assigned) < self.channels:
            self.assigned.append(sample_id)
        self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target], m.gap)
        rows = min(3, layout.rows_fit(top.height, m.target, m.gap))
        out: list[Widget] = []
        cells = layout.grid(top, rows, 2, m.gap)
        for cell, sample in zip(cells, self.samples, strict=False):
            product = self.app.kiosk.catalogue.products[sample.product_code]
            chosen = sample.sample_id in self.assigned
            tag = f"→{self.assigned.index(sample.sample_id) + 1} " if chosen else ""
            out.append(
                Button(
                    f"sample_{sample.sample_id}",
                    cell,
                    f"{tag}{sample.sample_id} {product.name}",
                    lambda s=sample.sample_id: self.toggle(s),
                    style="selected" if chosen else "plain",
                )
            )
        out.append(
            Button(
                "start",
                bottom,
                self.t("run_start", n=len(self.assigned)),
                self.start,
                "flask",
                "ok",
                enabled=bool(self.assigned),
            )
        )
        return out

    def start(self) -> None:
        self.app.push(RunScreen(self.app, self.method, list(self.assigned)))


class RunScreen(Screen):
    """A run in progress: countdown and a bar per channel; the verdicts follow."""

    title_key = "run_title"

    def __init__(self, app, method, sample_ids: list[str]) -> None:
        super().__init__(app)
        self.method = method
        self.sample_ids = sample_ids
        self.elapsed, self.total = 0.0, 1.0
        self.busy = True
        self.show_back = self.show_home = False

    def on_enter(self) -> None:
        if self.elapsed:
            return
        rapid = self.app.kiosk.rapid_tests

        slots = [SampleSlot(s, i + 1) for i, s in enumerate(self.sample_ids)]

        def job(progress) -> RunOutcome:
            if self.method.kind == "enzyme":
                return rapid.run_enzyme(self.method.id, slots, progress=progress)
            return rapid.run_strip(self.method.id, self.sample_ids[0], progress=progress)

        self.app.run_job(self, job)

    def on_message(self, kind: str, data: dict) -> None:
        if kind == "run_progress":
            self.elapsed, self.total = data["elapsed"], max(data["total"], 1e-6)
        elif kind == "job_done":
            outcome: RunOutcome = data["result"]
            self.app.replace(ResultsScreen(self.app, list(outcome.results), self.method))
        elif kind == "job_failed":
            error = data["error"]
            text = getattr(error, "message", str(error))
            self.app.replace(MessageScreen(self.app, "refused_title", text))

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        n = len(self.sample_ids)
        rows = min(n + 1, layout.rows_fit(area.height, m.target, m.gap))
        cells = layout.split_v(area, [1.0] * rows, m.gap)
        left = max(0, round(self.total - self.elapsed))
        fraction = self.elapsed / self.total
        out: list[Widget] = [
            Progress("countdown", cells[0], fraction, self.t("run_left", seconds=left))
        ]
        for i, (cell, sample) in enumerate(zip(cells[1:], self.sample_ids, strict=False)):
            out.append(Progress(f"channel_{i + 1}", cell, fraction, f"{i + 1}: {sample}"))
        return out


def verdict_text(app, result: TestResult) -> str:
    words = app.i18n.t(f"verdict_{result.verdict}")
    value = "" if result.value is None else f" {result.value:.1f}{result.unit}"
    return f"{result.sample_id}{value}：{words}"


class ResultsScreen(Screen):
    """Verdicts in colour and in words; report labels; re-test where the rules ask for one."""

    title_key = "result_title"

    def __init__(self, app, results: list[TestResult], method=None) -> None:
        super().__init__(app)
        self.results = results
        self.method = method

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target], m.gap)
        rows = min(max(1, len(self.results)), layout.rows_fit(top.height, m.target, m.gap))
        out: list[Widget] = []
        for i, (cell, r) in enumerate(
            zip(layout.split_v(top, [1.0] * rows, m.gap), self.results, strict=False)
        ):
            out.append(
                Label(
                    f"result_{i}",
                    cell,
                    verdict_text(self.app, r),
                    m.body_px,
                    style=VERDICT_STYLE.get(r.verdict, "plain"),
                )
            )
        retest = [r.sample_id for r in self.results if r.status == "retest_required"]
        feet = layout.split_h(bottom, [1.0, 1.0] if retest and self.method else [1.0], m.gap)
        out.append(Button("print_report", feet[0], self.t("print_report"), self.report, "printer"))
        if retest and self.method:
            out.append(
                Button(
                    "retest",
                    feet[1],
                    self.t("retest"),
                    lambda: self.app.replace(AssignScreen(self.app, self.method, retest)),
                    "flask",
                    "warn",
                )
            )
        return out

    def report(self) -> None:
        blocks: list = [TextBlock(16, 12, "快检报告", 32)]
        y = 56
        for r in self.results[:8]:
            text = f"{r.sample_id} {r.verdict.upper()} {r.test_id}"[:28]
            blocks.append(TextBlock(16, y, text, 24))
            y += 30
        doc = LabelDocument(480, 320, tuple(blocks))
        printer = self.app.kiosk.printer
        self.app.push(
            PrintScreen(
                self.app,
                lambda progress: printer.print_label(doc, 1, progress),
                1,
                done_screen=lambda: self,
            )
        )


class HoldsScreen(Screen):
    title_key = "holds"

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        holds = self.app.kiosk.holds.open_holds()
        if not holds:
            return [Label("no_holds", area, self.t("no_holds"), m.big_px)]
        rows = min(len(holds), layout.rows_fit(area.height, m.target, m.gap))
        out: list[Widget] = []
        for i, (cell, hold) in enumerate(
            zip(layout.split_v(area, [1.0] * rows, m.gap), holds, strict=False)
        ):
            product = self.app.kiosk.catalogue.products.get(hold.product_code)
            name = product.name if product else hold.product_code
            out.append(
                Label(
                    f"hold_{i}",
                    cell,
                    f"{hold.producer_key} {name}：{hold.reason}",
                    m.body_px,
                    style="danger",
                    align="left",
                )
            )
        return out
