"""Staff mode: samples, reader runs with a countdown, verdicts in colour and words, holds."""

from __future__ import annotations

import logging
from functools import partial
from typing import Protocol

import pygame

from drivers.printer.document import LabelDocument, QrBlock, TextBlock
from kiosk.domain.validation import InputError
from kiosk.services import county_holds
from kiosk.services.labels import PAPERS
from kiosk.services.producers import Producer
from kiosk.services.rapidtest import RapidTestError, RunOutcome, SampleSlot, TestResult
from kiosk.services.rapidtest_slips import result_slip
from kiosk.services.staff import LockedOut, LoginRefused, StaffMember
from ui import layout
from ui.jobs import Job
from ui.screens.base import Screen
from ui.screens.common import ChoiceScreen, KeypadScreen, MessageScreen, Option, check_pin
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
    def self_test_scope(self, product_code: str) -> tuple[str, str] | None: ...


def open_staff(app, mode: str = "staff") -> None:
    """Who are you (one tile per account that may open ``mode``), then that person's PIN;
    the right PIN opens the mode's menu as that person (``app.operator``)."""
    members = app.staff.members(mode)
    if not members:
        screen = MessageScreen(app, "staff" if mode == "staff" else "technician",
                               app.i18n.t("no_pin_set"), style="warn")  # fmt: skip
        screen.farmer = False
        app.push(screen)
        return
    if len(members) == 1:
        app.push(pin_pad(app, members[0], mode))
        return
    options = [
        Option(f"account_{m.account_id}", m.name,
               partial(lambda m: app.push(pin_pad(app, m, mode)), m), "person", "plain")
        for m in members
    ]  # fmt: skip
    chooser = ChoiceScreen(app, app.i18n.t("who_title"), options, max_cols=3)
    chooser.farmer = False
    app.push(chooser)


def pin_pad(app, member: StaffMember, mode: str) -> KeypadScreen:
    """The PIN pad of one account; every try is audited by the staff service."""
    from ui.screens.technician import TechnicianScreen

    def verdict(outcome) -> str | None:
        if isinstance(outcome, LockedOut):
            return locked_text(app, outcome)
        if isinstance(outcome, LoginRefused):
            if str(outcome) == "no_account":
                return app.i18n.t("no_pin_set")
            return app.i18n.t("wrong_pin", left=outcome.left)
        app.log_in(member, mode)
        app.unwind_to(type(app.stack[0]))
        app.push(StaffScreen(app) if mode == "staff" else TechnicianScreen(app))
        return None

    def entered(pin: str) -> str | None:
        return check_pin(
            app, pad, lambda services: services.staff.login(member.name, pin, mode), verdict
        )

    title = "staff_pin" if mode == "staff" else "tech_pin"
    pad = KeypadScreen(
        app, title, entered, mask=True, max_len=12, prompt=None, title_values={"name": member.name}
    )
    pad.farmer = False
    return pad


def operator_name(app) -> str:
    """The logged-in staff member's name, for the records a screen makes."""
    return app.operator.name if app.operator is not None else ""


class StaffScreen(ChoiceScreen):
    farmer = False

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
            Option("referrals", t("referrals"), lambda: app.push(referrals_screen(app)), "list"),
        ]
        super().__init__(app, t("staff_title"), options, max_cols=2)


def referrals_screen(app) -> ChoiceScreen:
    """Open lab referrals: tapping one whose retained sample is not yet confirmed confirms
    it in the logged-in tester's name (the lab result is recorded by CLI or the county)."""
    t = app.i18n.t
    rapid = app.kiosk.rapid_tests

    def confirm(referral_id: int) -> None:
        try:
            rapid.confirm_retained(referral_id, operator_name(app) or "staff")
        except (RapidTestError, InputError) as error:
            app.replace(MessageScreen(app, "problem_title", error.message, style="warn"))
            return
        app.replace(referrals_screen(app))

    options = []
    for r in rapid.referrals("open"):
        product = app.kiosk.catalogue.products.get(r.product_code)
        name = product.name if product else r.product_code
        if r.sample_retained:
            text = t("referral_retained", sample=r.sample_id, product=name, by=r.retained_by)
            options.append(Option(f"referral_{r.id}", text, lambda: None, "check", "plain"))
        else:
            text = t("referral_confirm", sample=r.sample_id, product=name)
            options.append(Option(f"referral_{r.id}", text, partial(confirm, r.id), "warning",
                                  "warn"))  # fmt: skip
    title = t("referrals") if options else t("no_referrals")
    screen = ChoiceScreen(app, title, options, max_cols=1)
    screen.farmer = False
    return screen


class SampleScreen(Screen):
    """Scan a sample barcode (or print a new one), then its producer, product and inputs."""

    title_key = "sample_title"
    farmer = False

    def __init__(self, app) -> None:
        super().__init__(app)
        self.sample_id: str | None = None
        self.producer: Producer | None = None
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
        self.app.push(
            PrintScreen(
                self.app,
                lambda services, control: services.printer.print_label(doc, 1, control.progress),
                1,
                done_screen=lambda: self,
                label="sample barcode",
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
        producer = self.producer
        assert producer is not None  # the producer is chosen before the product

        def inputs(app, used: tuple[str, ...]) -> None:
            # Testing is per production batch: the sample stands for a declared batch.
            app.push(
                KeypadScreen(
                    app,
                    "batch_title",
                    lambda value: register(app, used, value),
                    decimal=True,
                    max_len=8,
                    prompt=None,
                    title_values={"unit": product.default_unit},
                )
            )

        def register(app, used: tuple[str, ...], batch: str) -> str | None:
            try:
                app.kiosk.rapid_tests.register_sample(
                    self.sample_id,
                    producer_name=producer.name,
                    phone=producer.phone,
                    producer_id=producer.producer_id,
                    product_code=product.code,
                    inputs_used=used,
                    registered_by=operator_name(app),
                    batch_quantity=batch or "0",
                    batch_unit=product.default_unit,
                    sampling_place=app.kiosk.config.device.service_point,
                )
            except InputError as error:
                return error.message  # shown on the pad: type the batch again
            except RapidTestError as error:
                app.push(MessageScreen(app, "problem_title", error.message, style="warn"))
                return None
            text = app.i18n.t(
                "sample_saved", sample=self.sample_id, product=product.name, name=producer.name
            )
            # Staff hear at once when no installed method can give this product evidence.
            no_method = app.kiosk.rapid_tests.self_test_scope(product.code)
            app.unwind_to(StaffScreen)
            if no_method:
                text += "\n" + app.i18n.name(*no_method)
                app.push(MessageScreen(app, "done", text, style="warn", prompt=None))
            else:
                app.push(MessageScreen(app, "done", text, icon="check", style="ok", prompt=None))
            return None

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


def open_assign(app, method) -> None:
    app.push(AssignScreen(app, method))


def method_screen(app) -> ChoiceScreen:
    """The methods of the station's book (kiosk/data/methods.toml)."""
    methods = app.kiosk.rapid_tests.methods.methods.values()
    options = [
        Option(
            f"method_{m.id}",
            app.i18n.name(m.label or m.name, m.label_en or m.name_en),
            partial(open_assign, app, m),
            "flask",
        )
        for m in methods
    ]
    screen = ChoiceScreen(app, app.i18n.t("method_title"), options, max_cols=2)
    screen.farmer = False
    return screen


def waiting_samples(app, method) -> list:
    """Registered samples this method fits that still need a result."""
    return app.kiosk.rapid_tests.waiting_samples(method.id)


class AssignScreen(Screen):
    """Tap samples into reader channels (channel 0 is the enzyme control), then start."""

    farmer = False

    def __init__(self, app, method, preset: list[str] | None = None) -> None:
        super().__init__(app)
        self.method = method
        self.samples = waiting_samples(app, method)
        waiting = {x.sample_id for x in self.samples}
        # A sample sent back for a re-test stays in the list, first.
        for sample_id in reversed(preset or []):
            if sample_id not in waiting:
                try:
                    self.samples.insert(0, app.kiosk.rapid_tests.sample(sample_id))
                except (KeyError, RapidTestError):
                    continue
        self.assigned: list[str] = [
            s for s in (preset or []) if s in {x.sample_id for x in self.samples}
        ]
        self.channels = 1 if method.kind == "strip" else 7

    def title(self) -> str:
        if not self.samples:
            return self.t("no_samples")
        if self.method.kind == "strip":
            return self.t("strip_apply")
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
                    partial(self.toggle, sample.sample_id),
                    style="selected" if chosen else "plain",
                )
            )
        start = (
            self.t("strip_start")
            if self.method.kind == "strip"
            else self.t("run_start", n=len(self.assigned))
        )
        out.append(
            Button(
                "start",
                bottom,
                start,
                self.start,
                "flask",
                "ok",
                enabled=bool(self.assigned),
            )
        )
        return out

    def start(self) -> None:
        """The kit lot first: tap one of the method's registered, unexpired lots (lot
        files are registered by the technician); a method without lots runs without."""
        app, method, samples = self.app, self.method, list(self.assigned)
        rapid = app.kiosk.rapid_tests
        today = rapid.clock().date()
        lots = [k for k in rapid.kit_lots(method.id) if not k.expired(today)]
        if not lots:
            if method.lot_required:
                app.push(MessageScreen(app, "problem_title", app.i18n.t("no_kit_lot"),
                                       style="warn"))  # fmt: skip
                return
            app.push(RunScreen(app, method, samples))
            return
        options = [
            Option(f"lot_{k.lot}", app.i18n.t("kit_lot_option", lot=k.lot, expires=k.expires_on),
                   partial(lambda k: app.replace(RunScreen(app, method, samples, k.lot)), k),
                   "flask")
            for k in lots
        ]  # fmt: skip
        chooser = ChoiceScreen(app, app.i18n.t("kit_lot_title"), options, max_cols=2)
        chooser.farmer = False
        app.push(chooser)


class RunScreen(Screen):
    """A run in progress on the reader's worker: countdown and a bar per channel.

    A strip's wait for its read window can be cancelled (nothing is recorded then);
    an enzyme run cannot: the reader seam has no abort (drivers/reader/base.py).
    """

    title_key = "run_title"
    farmer = False

    def __init__(self, app, method, sample_ids: list[str], kit_lot: str | None = None) -> None:
        super().__init__(app)
        self.method = method
        self.sample_ids = sample_ids
        self.kit_lot = kit_lot
        self.elapsed, self.total = 0.0, 1.0
        self.phase = "measuring"
        self.busy = True
        self.job: Job | None = None
        self.show_back = self.show_home = False

    def on_enter(self) -> None:
        if self.job is not None:
            return
        slots = [SampleSlot(s, i + 1) for i, s in enumerate(self.sample_ids)]
        method = self.method
        tester = operator_name(self.app)
        lot = self.kit_lot

        def work(services, control) -> RunOutcome:
            rapid = services.rapid_tests
            if method.kind == "enzyme":
                return rapid.run_enzyme(method.id, slots, progress=control.progress,
                                        tester=tester, kit_lot=lot)  # fmt: skip
            return rapid.run_strip(method.id, self.sample_ids[0], progress=control.progress,
                                   tester=tester, kit_lot=lot)  # fmt: skip

        self.job = self.app.run_job(
            self,
            "reader",
            work,
            label=f"rapid test {method.id}",
            expected_s=self.expected_s(),
            cancellable=method.kind == "strip",
        )

    def expected_s(self) -> float:
        """The method's own length (device time scaled to wall time), plus handling."""
        scale = getattr(self.app.kiosk.reader, "time_scale", 1.0) or 1.0
        if self.method.kind == "enzyme":
            return float(getattr(self.method, "duration_s", 180.0)) / scale + 30.0
        window = getattr(self.method, "read_window_min", (15, 20))
        return float(window[0]) * 60.0 + 60.0

    def on_message(self, kind: str, data: dict) -> None:
        if kind == "run_progress":
            self.phase = data.get("phase", "measuring")
            self.elapsed, self.total = data["elapsed"], max(data["total"], 1e-6)
        elif kind == "job_done":
            outcome: RunOutcome = data["result"]
            self.busy = False
            self.app.replace(ResultsScreen(self.app, list(outcome.results), self.method))
            return
        elif kind == "job_cancelled":
            self.busy = False
            self.app.replace(
                MessageScreen(
                    self.app,
                    "done",
                    self.t("run_cancelled"),
                    icon="check",
                    style="plain",
                    prompt=None,
                )
            )
            return
        elif kind == "job_failed":
            self.busy = False
            error = data["error"]
            text = getattr(error, "message", None) or self.t("failed_plain")
            self.app.replace(MessageScreen(self.app, "refused_title", text, speak=True))
            return
        self.refresh()

    def cancel(self) -> None:
        if self.job is not None and self.app.cancel_job(self.job):
            self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        n = len(self.sample_ids)
        waiting = self.phase == "waiting"
        if waiting and self.job is not None and self.job.cancellable:
            area, foot = layout.split_v(area, [1.0, m.target], m.gap)
            cancelling = self.job.control is not None and self.job.control.cancel_requested.is_set()
        else:
            foot, cancelling = None, False
        rows = min(n + 1, layout.rows_fit(area.height, m.target, m.gap))
        cells = layout.split_v(area, [1.0] * rows, m.gap)
        left = max(0, round(self.total - self.elapsed))
        fraction = self.elapsed / self.total
        words = self.t("run_waiting" if waiting else "run_left", seconds=left)
        out: list[Widget] = [Progress("countdown", cells[0], fraction, words)]
        for i, (cell, sample) in enumerate(zip(cells[1:], self.sample_ids, strict=False)):
            out.append(Progress(f"channel_{i + 1}", cell, fraction, f"{i + 1}: {sample}"))
        if foot is not None:
            out.append(
                Button(
                    "cancel",
                    foot,
                    self.t("cancel"),
                    self.cancel,
                    "cross",
                    "warn",
                    enabled=not cancelling,
                )
            )
        return out


def verdict_text(app, result: TestResult, history: list[TestResult] | None = None) -> str:
    """The verdict in words; with earlier portions, the whole history (kept and shown)."""
    words = app.i18n.t(f"verdict_{result.verdict}")
    value = "" if result.value is None else f" {result.value:.1f}{result.unit}"
    text = f"{result.sample_id}{value}：{words}"
    if history and len(history) > 1:
        steps = " → ".join(
            app.i18n.t("portion_reading", portion=h.portion,
                       reading=app.i18n.t(f"reading_{h.reading}"))
            for h in history
        )  # fmt: skip
        text += f"（{app.i18n.t('history')}：{steps}）"
    return text


class ResultsScreen(Screen):
    """Verdicts in colour and in words; report labels; re-test where the rules ask for one."""

    title_key = "result_title"
    farmer = False

    def __init__(self, app, results: list[TestResult], method=None) -> None:
        super().__init__(app)
        self.results = results
        self.method = method
        rapid = app.kiosk.rapid_tests
        self.histories = {
            r.test_id: [h for h in rapid.verdict_history(r.sample_id, r.method_id)
                        if h.finished_at <= r.finished_at]
            for r in results
        }  # fmt: skip

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
                    verdict_text(self.app, r, self.histories.get(r.test_id)),
                    m.body_px,
                    style=VERDICT_STYLE.get(r.verdict, "plain"),
                )
            )
        retest = [r for r in self.results if r.status in ("retest_required", "unresolved")]
        feet = layout.split_h(bottom, [1.0, 1.0] if retest else [1.0], m.gap)
        out.append(Button("print_report", feet[0], self.t("print_report"), self.report, "printer"))
        if retest:
            out.append(
                Button(
                    "retest",
                    feet[1],
                    self.t("retest"),
                    lambda: self.retest(retest),
                    "flask",
                    "warn",
                )
            )
        return out

    def retest(self, results: list[TestResult]) -> None:
        """The samples that need a second portion, straight into the method's run list."""
        method = self.method
        if method is None:
            method = self.app.kiosk.rapid_tests.methods.get(results[0].method_id)
        samples = [r.sample_id for r in results if r.method_id == method.id]
        self.app.replace(AssignScreen(self.app, method, samples))

    def report(self) -> None:
        """A 快速检测结果单 per result (signed QR), built and printed on the printer's worker."""
        test_ids = [r.test_id for r in self.results[:4]]
        pages = 1 if PAPERS[self.app.kiosk.issuance.settings.paper].height is None else 2

        def work(services, control) -> None:
            paper = PAPERS[services.issuance.settings.paper]
            documents = [
                doc
                for test_id in test_ids
                for doc in result_slip(
                    services.rapid_tests, test_id, county=services.config.device.county,
                    signer=services.signer, verify_url=services.issuance.settings.verify_url,
                    width=paper.width, height=paper.height,
                ).documents
            ]  # fmt: skip
            for n, document in enumerate(documents):
                services.printer.print_label(document, 1)
                control.progress(n + 1, len(documents))

        screen = PrintScreen(
            self.app, work, len(test_ids) * pages, done_screen=lambda: self, label="result slips"
        )
        self.app.push(screen)


class HoldsScreen(Screen):
    """Open holds by producer name (the key only when the producer is not known here)."""

    title_key = "holds"
    farmer = False

    def who(self, producer_key: str) -> str:
        producers = self.app.producers
        try:
            if producer_key.startswith("tel:"):
                found = producers.by_phone(producer_key[4:])
                return found[0].name if found else producer_key[4:]
            return producers.get(producer_key).name
        except KeyError:
            return producer_key

    def lines(self) -> list[tuple[str, str]]:
        """(id, text): this kiosk's holds, the county's notices to it, the county's holds."""
        kiosk = self.app.kiosk
        products = kiosk.catalogue.products

        def product(code: str) -> str:
            return products[code].name if code in products else code

        out = [
            (f"hold_{i}", f"{self.who(h.producer_key)} {product(h.product_code)}：{h.reason}")
            for i, h in enumerate(kiosk.holds.open_holds())
        ]
        out += [
            (f"notice_{i}", f"{n.title} {n.text}")
            for i, n in enumerate(county_holds.county_notices(kiosk.store))
        ]
        out += [
            (f"county_hold_{i}", f"全县暂停 {h.hold_id} {product(h.product_code)}：{h.reason}")
            for i, h in enumerate(county_holds.open_county_holds(kiosk.store))
        ]
        return out

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        lines = self.lines()
        if not lines:
            return [Label("no_holds", area, self.t("no_holds"), m.big_px)]
        rows = min(len(lines), layout.rows_fit(area.height, m.target, m.gap))
        return [
            Label(name, cell, text, m.body_px, style="danger", align="left")
            for cell, (name, text) in zip(
                layout.split_v(area, [1.0] * rows, m.gap), lines, strict=False
            )
        ]
