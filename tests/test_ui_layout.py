"""Every screen at 800×480, 1024×600 and 1280×800: screenshot saved, nothing clipped or overlapping.

Screenshots go to tests/artifacts/screens/<size>/ for review. The checks (ui.testing):
every text inside its widget and at least 24 px, no two widgets overlapping, every
touch target at least 15 mm at the panel's DPI.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from support.kiosk import ARTIFACTS, request

from app.compose import hardware_desk
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.rapidtest import TestResult
from ui.loop import App
from ui.screens import common, farmer, register, service, simulation, staff, technician
from ui.testing import Driver, layout_problems
from ui.theme import PANEL_DPI

SIZES = [(800, 480), (1024, 600), (1280, 800)]


def _identified(app: App) -> None:
    producer = app.producers.by_phone("13812345678")[0]
    app.session.producer = producer
    app.session.product = app.kiosk.catalogue.products["V001"]
    app.session.unit = "公斤"
    app.session.quantity = Decimal("12.5")
    app.session.inputs = ("organophosphate",)


def _result(verdict: str, status: str, i: int) -> TestResult:
    return TestResult(
        f"K001-T00000{i}",
        "K001-R000001",
        f"S-10{i}",
        "GBT5009199",
        "op",
        1,
        str(i),
        12.5 * i,
        "%",
        verdict,
        verdict,
        status,
        None,
        None,
        None,
        "",
        "",
    )


def _print_problem(app: App, fault: str = "paper_out") -> farmer.PrintScreen:
    from drivers.printer.base import PrinterError, PrinterFault

    screen = farmer.PrintScreen(app, lambda services, control: None, 3)
    screen.started = True  # show it as the job left it, without running one
    screen.done = 1
    screen.failed(PrinterError(PrinterFault(fault), fault, 1))
    return screen


class _Method:
    id, kind, matrices = "GBT5009199", "enzyme", ("vegetable",)


SCREENS = {
    "home": lambda app: None,
    "home_en": lambda app: app.i18n.toggle(),
    "phone": lambda app: app.push(farmer.PhoneScreen(app)),
    "welcome": lambda app: app.push(farmer.WelcomeScreen(app)),
    "products": lambda app: app.push(farmer.product_screen(app, farmer.choose_product)),
    "vegetables": lambda app: app.push(
        farmer.category_screen(app, "vegetable", farmer.choose_product)
    ),
    "search": lambda app: app.push(farmer.SearchScreen(app, farmer.choose_product)),
    "quantity": lambda app: app.push(farmer.QuantityScreen(app)),
    "inputs": lambda app: app.push(
        farmer.InputsScreen(app, app.session.product, farmer.inputs_chosen)
    ),
    "basis": lambda app: app.push(farmer.basis_screen(app, "K001-T000001")),
    "confirm": lambda app: app.push(farmer.ConfirmScreen(app)),
    "printing": lambda app: app.push(_printing(app)),
    "paper_out": lambda app: app.push(_print_problem(app)),
    "done": lambda app: app.push(farmer.DoneScreen(app)),
    "refused": lambda app: farmer.refusal(
        app,
        IssuanceRefused(
            "hold",
            "青菜因快检阳性被暂停开证（快检阳性 K001-T000001）。"
            "请联系乡镇监管站，县里解除暂停后才能开具。",
        ),
    ),
    "name": lambda app: _name(app),
    "village": lambda app: app.push(register.village_screen(app)),
    "card_done": lambda app: app.push(register.CardDoneScreen(app)),
    "pin": lambda app: app.push(common.KeypadScreen(app, "pin_title", lambda v: None, mask=True)),
    "staff": lambda app: app.push(staff.StaffScreen(app)),
    "sample": lambda app: app.push(staff.SampleScreen(app)),
    "methods": lambda app: app.push(staff.method_screen(app)),
    "assign": lambda app: app.push(staff.AssignScreen(app, _Method())),
    "run": lambda app: app.push(staff.RunScreen(app, _Method(), ["S-101", "S-102"])),
    "results": lambda app: app.push(
        staff.ResultsScreen(
            app,
            [
                _result("negative", "final", 1),
                _result("suspicious", "retest_required", 2),
                _result("positive", "confirmed", 3),
            ],
            _Method(),
        )
    ),
    "holds": lambda app: app.push(staff.HoldsScreen(app)),
    "technician": lambda app: app.push(technician.TechnicianScreen(app)),
    "scanner_test": lambda app: app.push(technician.ScannerTestScreen(app)),
    "logs": lambda app: app.push(technician.LogScreen(app)),
    "name_pinyin": lambda app: _name(app, "pinyin"),
    "out_of_service": lambda app: _out_of_service(app),
    "idle_warning": lambda app: app.push(farmer.IdleWarningScreen(app, time.monotonic() + 12)),
    "simulation": lambda app: app.push(simulation.SimulationScreen(app)),
    "print_offline": lambda app: app.push(_print_problem(app, "offline")),
}


def _out_of_service(app: App) -> None:
    from drivers.printer.base import PrinterStatus

    app.printer_status, app.disk_free_mb = PrinterStatus(paper_out=True), 0
    app.go_home(greet=False)
    assert isinstance(app.top, service.OutOfServiceScreen)


def _printing(app: App) -> farmer.PrintScreen:
    screen = farmer.PrintScreen(app, lambda services, control: None, 3)
    screen.started = True  # show it mid-job without running a job
    screen.done = 1
    return screen


def _name(app: App, mode: str = "write") -> None:
    screen = register.NameScreen(app)
    screen.mode = mode
    screen.name, screen.letters = "王", "zh"
    if mode == "write":
        screen.pads[0] = [[(20, 30), (120, 30)], [(70, 10), (70, 140)]]
        screen.guesses = ["十", "丰", "干", "千", "午"]
    app.push(screen)


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    from support.kiosk import configured

    from app.compose import open_kiosk

    kiosk = open_kiosk(configured(tmp_path_factory.mktemp("layout") / "data"))
    app = App(kiosk, hardware_desk(kiosk), size=(800, 480), dpi=PANEL_DPI[(800, 480)], audio=False)
    producer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
    kiosk.issuance.issue(request(issuer=producer.issuer))
    kiosk.holds.place(producer.producer_id, "V002", "快检阳性 K001-T000009（有机磷）", "test")
    app.close()
    yield kiosk
    kiosk.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits_at_every_size(apps, size) -> None:
    app = App(apps, hardware_desk(apps), size=size, dpi=PANEL_DPI[size], audio=False)
    driver = Driver(app)
    failures = {}
    try:
        for name, setup in SCREENS.items():
            app.printer_status = app.disk_free_mb = None
            app.printer_poll_s = app.health_poll_s = 3600.0
            app.go_home(greet=False)
            if app.i18n.is_en:
                app.i18n.toggle()
            _identified(app)
            setup(app)
            driver.screenshot(ARTIFACTS / "screens" / f"{size[0]}x{size[1]}" / f"{name}.png")
            problems = layout_problems(app)
            if problems:
                failures[name] = problems
    finally:
        app.close()
    assert not failures, failures


def test_the_checks_catch_clipped_text_and_overlap(apps) -> None:
    """The layout check is honest: a deliberately broken screen fails it."""
    from ui.screens.base import Screen
    from ui.widgets import Button, Label

    class Broken(Screen):
        def body(self, area):
            small = area.copy()
            small.size = (60, 30)
            return [
                Label("clipped", small, "这段文字太长了放不下" * 3),
                Button("overlap", small.move(10, 5), "x", lambda: None),
            ]

    app = App(apps, hardware_desk(apps), size=(1024, 600), dpi=170, audio=False)
    try:
        app.push(Broken(app))
        problems = " ".join(layout_problems(app))
    finally:
        app.close()
    assert "text clipped in clipped" in problems
    assert "overlap" in problems and "under" in problems
