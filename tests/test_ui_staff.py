"""Staff and technician modes through the touch UI, against the simulated reader."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support.kiosk import ARTIFACTS
from support.reader import simulated_reader

from app.compose import hardware_desk, seed_demo_accounts
from ui.loop import App
from ui.screens.common import KeypadScreen, MessageScreen
from ui.screens.farmer import ConfirmScreen
from ui.screens.staff import ResultsScreen, StaffScreen
from ui.screens.technician import ScannerTestScreen, TechnicianScreen
from ui.testing import Driver
from wire.clock import china_time

SHOTS = ARTIFACTS / "screens" / "flows"


class MovableClock:
    """China time plus an offset a test moves (a lock-out expires): workers share it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return china_time() + self.offset


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def kiosk(make_kiosk, clock):
    return make_kiosk(clock=clock)


@pytest.fixture
def ui(kiosk):
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    seed_demo_accounts(kiosk)
    yield Driver(app)
    app.close()


def login(ui: Driver, door: str, pin: str) -> None:
    """Staff mode lists both demo accounts (a technician may do staff work): pick 演示员."""
    ui.tap(door)
    if door == "staff":
        ui.tap("account_1")
    ui.type_digits(pin)
    ui.tap("ok")


def test_staff_registers_runs_and_sees_verdicts_in_colour_and_words(ui, kiosk, tmp_path) -> None:
    farmer = ui.app.producers.register("张秀英", "13812345678", "示范村", "2580")
    with simulated_reader(tmp_path / "reader") as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        reader.controls.load_enzyme_sample(1, inhibitor=0.0)
        login(ui, "staff", "135790")
        assert ui.on(StaffScreen)
        ui.tap("register_sample")
        ui.scan("S-100")
        ui.scan(farmer.card_code)
        ui.tap("category_vegetable")
        ui.tap("product_V001")
        ui.tap("input_organophosphate")
        ui.tap("inputs_done")
        assert "本批次总数量（公斤）" in " ".join(ui.texts())  # testing is per batch
        ui.type_digits("500")
        ui.tap("ok")
        assert ui.on(MessageScreen) and "S-100已登记" in " ".join(ui.texts())
        ui.tap("back")
        ui.tap("start_run")
        ui.tap("method_GBT5009199")
        ui.tap("sample_S-100")
        ui.tap("start")
        ui.until(lambda: ui.on(ResultsScreen), timeout=30)
        ui.screenshot(SHOTS / "staff_results.png")
        (result,) = ui.app.top.results
        assert result.verdict == "negative" and result.status == "final"
        assert result.tester == "演示员"  # the logged-in account names the tester
        words = " ".join(ui.texts())
        assert "阴性（合格）" in words  # words, not colour alone
        label = ui.app.find("result_0")
        assert label.style == "ok"
        ui.tap("print_report")
        ui.until(lambda: ui.on(ResultsScreen))
        slip_words = kiosk.printer.simulated_device.labels[-2].texts  # then the QR label
        assert any("快速检测结果单" in t for t in slip_words)
        assert any("检测员：演示员" in t for t in slip_words)
    # The farmer is now offered the passing test as the basis of the commitment.
    ui.tap("home")
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")
    ui.type_digits("10")
    ui.tap("ok")
    ui.tap("input_organophosphate")
    ui.tap("inputs_done")
    ui.tap("basis_self_test")
    assert ui.on(ConfirmScreen)
    assert ui.app.session.test_ref == result.test_id


def test_wrong_staff_pins_lock_out(ui, kiosk, clock) -> None:
    login(ui, "staff", "000000")
    for _ in range(3):
        ui.type_digits("000000")
        ui.tap("ok")
        assert "密码不对" in " ".join(ui.texts())
    ui.type_digits("000000")
    ui.tap("ok")  # the fifth wrong PIN locks
    ui.type_digits("135790")
    ui.tap("ok")  # even the right PIN is not tried now
    assert ui.on(KeypadScreen) and "错误次数太多" in " ".join(ui.texts())
    clock.offset = timedelta(minutes=11)
    ui.type_digits("135790")
    ui.tap("ok")
    assert ui.on(StaffScreen) and ui.app.operator.name == "演示员"
    assert [e.kind for e in kiosk.audit.entries()][-7:] == [*["login.failed"] * 6, "login"]
    ui.tap("home")  # going home logs out
    assert ui.app.operator is None and kiosk.audit.entries()[-1].kind == "logout"


def test_technician_status_test_print_and_scanner_test(ui, kiosk) -> None:
    login(ui, "technician", "975310")
    assert ui.on(TechnicianScreen)
    words = " ".join(ui.texts())
    # the simulated printer says it is one (behaviour meant to change with issue 12)
    assert "打印机（模拟）：正常" in words and "待上传" in words and "磁盘剩余" in words
    ui.screenshot(SHOTS / "technician.png")
    before = kiosk.printer.simulated_device.label_count
    ui.tap("test_print")  # runs on the printer's worker; the screen says when it is done
    ui.until(lambda: "测试页已打印" in " ".join(ui.texts()))
    assert kiosk.printer.simulated_device.label_count == before + 1
    ui.tap("scanner_test")
    assert ui.on(ScannerTestScreen)
    ui.scan("HELLO-123")
    assert "扫到：HELLO-123" in ui.texts()
    ui.tap("back")
    ui.tap("logs")
    assert ui.texts()


def test_a_positive_first_portion_offers_a_retest_that_keeps_the_sample(ui, kiosk, tmp_path):
    """可疑/阳性 on a first portion: 复检 goes straight to the run list with the sample in
    it (from the results list too, where no method was at hand); holds read by name."""
    from ui.screens.staff import AssignScreen, HoldsScreen, RunScreen

    farmer = ui.app.producers.register("张秀英", "13812345678", "示范村", "2580")
    with simulated_reader(tmp_path / "reader") as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        reader.controls.load_enzyme_sample(1, inhibitor=2.0)  # ~75 % inhibition
        kiosk.rapid_tests.register_sample(
            "S-9",
            producer_name=farmer.name,
            phone=farmer.phone,
            producer_id=farmer.producer_id,
            product_code="V001",
            inputs_used=("organophosphate",),
        )
        method = kiosk.rapid_tests.methods.get("GBT5009199")
        ui.app.push(RunScreen(ui.app, method, ["S-9"]))
        ui.until(lambda: ui.on(ResultsScreen), timeout=30)
        (first,) = ui.app.top.results
        assert first.status == "retest_required"
        ui.app.replace(ResultsScreen(ui.app, kiosk.rapid_tests.results(limit=5)))
        ui.tap("retest")
        assert ui.on(AssignScreen) and ui.app.top.assigned == ["S-9"]
        ui.tap("start")
        ui.until(lambda: ui.on(ResultsScreen), timeout=30)
        (second,) = ui.app.top.results
        # GB/T 5009.199: a second positive portion is not final; the history is shown
        assert second.portion == 2 and second.status == "retest_required"
        assert "第1份阳性 → 第2份阳性" in " ".join(ui.texts())
        ui.tap("retest")
        assert ui.on(AssignScreen) and ui.app.top.assigned == ["S-9"]
        ui.tap("start")
        ui.until(lambda: ui.on(ResultsScreen), timeout=30)
        (third,) = ui.app.top.results
        assert third.portion == 3 and third.status == "confirmed"
    ui.app.push(HoldsScreen(ui.app))
    assert "张秀英 青菜" in " ".join(ui.texts())


def test_strip_flow_says_apply_the_sample_then_start(ui, kiosk) -> None:
    from ui.screens.staff import AssignScreen

    farmer = ui.app.producers.register("张秀英", "13812345678", "示范村", "2580")
    kiosk.rapid_tests.register_sample(
        "S-7",
        producer_name=farmer.name,
        phone=farmer.phone,
        producer_id=farmer.producer_id,
        product_code="A001",
        inputs_used=(),
    )
    strip = next(
        m
        for m in kiosk.rapid_tests.methods.methods.values()
        if m.kind == "strip" and "aquatic" in m.matrices
    )
    ui.app.push(AssignScreen(ui.app, strip))
    words = " ".join(ui.texts())
    assert "把样品滴到试纸条上" in words and "已加样，开始计时" in words


def test_a_run_starts_with_its_kit_lot_and_a_lot_less_strip_is_refused(ui, kiosk, tmp_path):
    """Staff tap the kit lot before the run starts (expired lots are not offered); a
    β-agonist strip with no registered lot is refused with what to do."""
    from ui.screens.common import ChoiceScreen
    from ui.screens.staff import AssignScreen

    today = kiosk.clock().date()
    rapid = kiosk.rapid_tests
    rapid.add_kit_lot(f'lot = "EZ-OLD"\nmethod = "GBT5009199"\nexpires = "{today - timedelta(1)}"')
    rapid.add_kit_lot(f'lot = "EZ-9"\nmethod = "GBT5009199"\nexpires = "{today + timedelta(9)}"')
    rapid.register_sample("S-21", producer_name="张秀英", phone="13812345678",
                          product_code="V001")  # fmt: skip
    rapid.register_sample("P-21", producer_name="张秀英", phone="13812345678",
                          product_code="L001")  # fmt: skip
    with simulated_reader(tmp_path / "reader") as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        ui.app.push(AssignScreen(ui.app, rapid.methods.get("GBT5009199"), ["S-21"]))
        ui.tap("start")
        assert ui.on(ChoiceScreen) and "选择试剂盒批号" in " ".join(ui.texts())
        assert ui.app.find("lot_EZ-OLD") is None  # expired: not offered
        ui.tap("lot_EZ-9")
        ui.until(lambda: ui.on(ResultsScreen), timeout=30)
        (result,) = ui.app.top.results
        assert result.kit_lot == "EZ-9" and result.tester == ""
        ui.app.push(AssignScreen(ui.app, rapid.methods.get("STRIP-CLB-LIVESTOCK"), ["P-21"]))
        ui.tap("start")
        assert ui.on(MessageScreen) and "没有在有效期内的试剂盒批号" in " ".join(ui.texts())


def test_the_tester_confirms_the_retained_sample_on_the_touch_screen(ui, kiosk, tmp_path):
    from ui.screens.staff import referrals_screen

    rapid = kiosk.rapid_tests
    rapid.register_sample("S-31", producer_name="张秀英", phone="13812345678",
                          product_code="V001")  # fmt: skip
    with simulated_reader(tmp_path / "reader") as reader:
        rapid.reader = reader
        reader.controls.load_enzyme_sample(1, inhibitor=4.0)
        rapid.run_enzyme("NYT448", [rapid_slot("S-31")])
        (referral,) = rapid.run_enzyme("NYT448", [rapid_slot("S-31")]).referrals
    login(ui, "staff", "135790")
    ui.tap("referrals")
    assert "点此确认已留样封存" in " ".join(ui.texts())
    ui.tap(f"referral_{referral.id}")
    assert "已留样（演示员）" in " ".join(ui.texts())
    assert rapid.referral(referral.id).retained_by == "演示员"
    ui.app.replace(referrals_screen(ui.app))  # still listed until the lab result closes it


def rapid_slot(sample_id: str):
    from kiosk.services.rapidtest import SampleSlot

    return SampleSlot(sample_id, 1)
