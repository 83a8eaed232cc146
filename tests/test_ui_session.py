"""What a farmer meets at the kiosk (issue 12): out of service, one person per session,
tap counts, handwriting, spoken words, the simulation panel; on the dummy display and
once under a real X server (Xvfb)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygame
import pytest
from support.kiosk import ARTIFACTS, configured, request
from support.notify import NotifySocket

from app.compose import ReconnectingPrinter, hardware_desk, open_kiosk, seed_demo_accounts
from kiosk.services.issuance import IssuanceRefused
from ui.loop import IDLE_WARNING_S, App
from ui.screens.common import MessageScreen
from ui.screens.farmer import (
    ConfirmScreen,
    DoneScreen,
    HomeScreen,
    IdleWarningScreen,
    QuantityScreen,
    WelcomeScreen,
)
from ui.screens.register import CardDoneScreen, NameScreen
from ui.screens.service import OutOfServiceScreen
from ui.screens.simulation import SimulationScreen
from ui.testing import Driver

SHOTS = ARTIFACTS / "screens" / "flows"
STROKES = Path(__file__).parent / "support" / "strokes.json"
ROOT = Path(__file__).resolve().parents[1]


def make_app(kiosk, size=(1024, 600), dpi=170.0, audio=False) -> Driver:
    app = App(kiosk, hardware_desk(kiosk), size=size, dpi=dpi, audio=audio)
    app.printer_poll_s = app.health_poll_s = 0.05
    return Driver(app)


@pytest.fixture
def ui(kiosk):
    seed_demo_accounts(kiosk)
    driver = make_app(kiosk)
    yield driver
    driver.app.close()


@pytest.fixture
def farmer(ui):
    return ui.app.producers.register("张秀英", "13812345678", "示范村", "2580")


def words(ui: Driver) -> str:
    return " ".join(ui.texts())


# -- out of service ---------------------------------------------------------------------


def test_printer_offline_shows_the_out_of_service_page_and_recovers(ui, kiosk) -> None:
    device = kiosk.printer.simulated_device
    device.go_offline()
    ui.until(lambda: ui.on(OutOfServiceScreen))
    text = words(ui)
    assert "暂停服务：打印机没有连接" in text and "电源和连线" in text
    assert "呼叫工作人员" in text and "自动恢复" in text
    ui.screenshot(SHOTS / "out_of_service.png")
    ui.tap("call_staff")
    assert kiosk.alarms.is_open("help_button") and "已通知工作人员" in words(ui)
    device.go_online()
    ui.until(lambda: ui.on(HomeScreen))


def test_paper_out_is_shown_before_a_farmer_starts(ui, kiosk, farmer) -> None:
    kiosk.printer.simulated_device.load_paper(0)
    ui.until(lambda: ui.on(OutOfServiceScreen))
    assert "标签纸用完了" in words(ui) and "缺纸" in words(ui)  # title matches the state
    ui.scan(farmer.card_code)  # nobody starts a certificate on a kiosk that cannot print
    assert ui.on(OutOfServiceScreen)
    kiosk.printer.simulated_device.load_paper()
    ui.until(lambda: ui.on(HomeScreen))
    ui.scan(farmer.card_code)
    assert ui.on(WelcomeScreen)


def test_a_farmer_mid_flow_is_sent_to_the_page_and_staff_can_still_enter(ui, farmer) -> None:
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.app.kiosk.printer.simulated_device.go_offline()
    ui.until(lambda: ui.on(OutOfServiceScreen))
    assert ui.app.session.producer is None
    ui.tap("technician")
    ui.type_digits("975310")
    ui.tap("ok")
    from ui.screens.technician import TechnicianScreen

    assert ui.on(TechnicianScreen)  # the page does not take the technician's screens
    ui.settle(5)
    assert ui.on(TechnicianScreen) and "打印机（模拟）：没有连接" in words(ui)
    ui.app.kiosk.printer.simulated_device.go_online()
    ui.tap("home")
    ui.until(lambda: ui.on(HomeScreen))


def test_full_disk_and_a_kiosk_wide_hold_take_the_kiosk_out_of_service(make_kiosk) -> None:
    kiosk = make_kiosk(paths={"min_free_mb": 10**9})
    ui = make_app(kiosk)
    try:
        ui.until(lambda: ui.on(OutOfServiceScreen))
        assert "存储空间已满" in words(ui)
    finally:
        ui.app.close()
    kiosk = make_kiosk(data_dir=kiosk.config.paths.data_dir.parent / "other")
    ui = make_app(kiosk)
    try:
        hold = kiosk.holds.place("*", "*", "县农业农村局抽检整改", "county")
        ui.until(lambda: ui.on(OutOfServiceScreen))
        assert "县里暂停了本机开证（县农业农村局抽检整改）" in words(ui)
        kiosk.holds.lift(hold.id, "county")
        ui.until(lambda: ui.on(HomeScreen))
    finally:
        ui.app.close()


def test_printer_unreachable_at_start_is_retried_not_fatal(tmp_path) -> None:
    """A serial printer whose port is missing at start: the kiosk opens, records and
    says "not printed"; once the port appears (a real pty) it prints, and the UI leaves
    its out-of-service page by itself."""
    from drivers.printer.profiles import get_profile
    from drivers.printer.sim.device import SimulatedPrinter
    from drivers.printer.sim.servers import PtyPrinterServer

    port = tmp_path / "ttyPRINTER"
    config = configured(
        tmp_path / "data",
        printer={
            "transport": configured(tmp_path / "x").printer.transport.model_copy(
                update={"kind": "serial", "serial_port": str(port), "baudrate": 115200}
            )
        },
    )
    with open_kiosk(config) as kiosk:
        assert isinstance(kiosk.printer, ReconnectingPrinter)
        kiosk.printer.retry_s = 0.1
        assert kiosk.printer.status().online is False
        with pytest.raises(IssuanceRefused, match="没有占用证号"):  # no number spent
            kiosk.issuance.issue(request())
        ui = make_app(kiosk)
        device = SimulatedPrinter(get_profile("tspl-60x40"))
        server = None
        try:
            ui.until(lambda: ui.on(OutOfServiceScreen))
            server = PtyPrinterServer(device)
            port.symlink_to(server.path)  # the printer is plugged in
            ui.until(lambda: ui.on(HomeScreen), timeout=15)
            outcome = kiosk.issuance.issue(request())
            assert outcome.printed and outcome.certificate.number.endswith("0000001")
            assert device.label_count == 1
        finally:
            ui.app.close()
            if server is not None:
                server.close()


def test_kiosk_run_without_its_printer_starts_and_stops_cleanly(tmp_path) -> None:
    """`kiosk run` used to die with a traceback (and systemd restarted it in a loop):
    now it tells systemd it is ready, shows its page, and stops cleanly on SIGTERM."""
    config = tmp_path / "kiosk.toml"
    config.write_text(
        "[device]\nsimulation = true\n"
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        '[printer.transport]\nkind = "serial"\n'
        f'serial_port = "{tmp_path / "ttyNONE"}"\n'
        '[reader]\nkind = "none"\n[ui]\naudio = false\n'
    )
    notify = NotifySocket()
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    env["NOTIFY_SOCKET"] = notify.path
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(config), "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = notify.wait_for("READY=1", 60)
        assert ready and proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert notify.wait_for("STOPPING=1", 5)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "printer not reachable at start" in err


# -- one person, one session --------------------------------------------------------------


def issue_first(ui: Driver) -> int:
    """A registered farmer's first certificate after identifying; returns the taps."""
    taps = ui.taps
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")
    ui.type_digits("10")
    ui.tap("ok")
    ui.tap("nothing")
    assert ui.on(ConfirmScreen)
    ui.tap("print")
    ui.until(lambda: ui.on(DoneScreen))
    return ui.taps - taps


def test_tap_counts_first_certificate_8_repeat_2(ui, farmer, kiosk) -> None:
    ui.scan(farmer.card_code)
    assert issue_first(ui) <= 8
    ui.tap("another")  # 继续开证: the same farmer, the last certificate on offer
    assert ui.on(WelcomeScreen)
    taps = ui.taps
    ui.tap("repeat")
    ui.tap("print")
    ui.until(lambda: ui.on(DoneScreen))
    assert ui.taps - taps <= 2
    first, second = kiosk.issuance.list(limit=2)[::-1]
    assert (second.product_code, second.quantity) == (first.product_code, first.quantity)


def test_a_stranger_after_the_print_sees_the_home_screen(ui, farmer, monkeypatch) -> None:
    monkeypatch.setattr(DoneScreen, "countdown_s", 1)
    ui.scan(farmer.card_code)
    issue_first(ui)
    assert "秒后自动回到首页" in words(ui) and "继续开证" in words(ui)
    ui.screenshot(SHOTS / "done_countdown.png")
    ui.until(lambda: ui.on(HomeScreen), timeout=5)
    assert ui.app.session.producer is None and len(ui.app.stack) == 1
    assert ui.app.find("new") is None and ui.app.find("repeat") is None


def test_idle_warning_is_shown_and_spoken_before_the_session_clears(kiosk, farmer) -> None:
    ui = make_app(kiosk, audio=True)
    try:
        ui.scan(farmer.card_code)
        ui.tap("new")
        # The printer check "new" starts answers on its worker; its answer restarts the
        # idle count (the farmer was waiting), so let it come before going idle.
        ui.await_printer_check()
        ui.settle()
        limit = kiosk.config.ui.idle_timeout_s
        ui.app._last_input = time.monotonic() - (limit - IDLE_WARNING_S + 1)
        ui.settle()
        assert ui.on(IdleWarningScreen) and "idle_warning" in ui.app.audio.played
        assert "秒后回到首页" in words(ui)
        ui.screenshot(SHOTS / "idle_warning.png")
        ui.tap("still_here")
        assert not ui.on(IdleWarningScreen) and ui.app.session.producer == farmer
        ui.app._last_input = time.monotonic() - limit - 1
        ui.settle()
        assert ui.on(HomeScreen) and ui.app.session.producer is None
    finally:
        ui.app.close()


# -- registration: handwriting first ------------------------------------------------------


def test_a_new_farmer_registers_in_15_taps_writing_the_name_by_hand(ui, kiosk) -> None:
    """王丰 written from stored strokes (tests/support/strokes.json) into the two boxes:
    Zinnia reads both, no candidate tap; the phone pad goes on at 11 digits; no PIN."""
    data = json.loads(STROKES.read_text("utf-8"))
    taps = ui.taps
    ui.tap("register")
    assert ui.on(NameScreen) and ui.app.top.mode == "write"
    ui.write("pad_0", data["characters"]["王"], data["box"])
    assert ui.app.top.shown() == "王"
    ui.write("pad_1", data["characters"]["丰"], data["box"])
    assert ui.app.top.shown() == "王丰"
    ui.screenshot(SHOTS / "name_handwriting.png")
    ui.tap("ok")
    ui.type_digits("13900001111")
    ui.tap("skip_pin")
    ui.tap("village_330100001002")
    ui.until(lambda: ui.on(CardDoneScreen))
    assert ui.taps - taps <= 15
    (producer,) = ui.app.producers.by_phone("13900001111")
    assert producer.name == "王丰"
    assert ui.app.producers.login("13900001111", "0000") is None  # no guessable PIN


def test_pinyin_has_the_whole_table(ui) -> None:
    """有 长 学 胜 利 家 素 were missing from the 406-character table."""
    from ui.pinyin import candidates, table

    chars = {c for cs in table().values() for c in cs}
    assert len(chars) == 8105
    for syllable, char in [
        ("you", "有"),
        ("zhang", "长"),
        ("chang", "长"),
        ("xue", "学"),
        ("sheng", "胜"),
        ("li", "利"),
        ("jia", "家"),
        ("su", "素"),
    ]:
        assert char in candidates(syllable), (syllable, char)
    assert candidates("wang")[0] == "王"


# -- words spoken, errors that read --------------------------------------------------------


def test_prompts_queue_and_refusals_are_spoken_in_their_own_words(kiosk, farmer) -> None:
    ui = make_app(kiosk, audio=True)
    try:
        kiosk.holds.place(farmer.producer_id, "V001", "快检阳性 K001-T000001", "test")
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_vegetable")
        ui.tap("product_V001")
        assert ui.on(MessageScreen)
        assert any("暂停开证" in s for s in ui.app.audio.spoken)
        alert = ui.app.find("message")
        assert type(alert).__name__ == "Alert" and alert.style == "danger"
        record = next(r for r in ui.app.canvas.texts if r.widget == "message")
        assert record.size >= ui.app.metrics.body_px  # never smaller than body text
        # two prompts asked for at once: the second waits for the first
        audio = ui.app.audio
        audio.clear()
        pygame.mixer.stop()
        audio.play("welcome", "zh-CN")
        audio.play("refused", "zh-CN")
        if audio._channel is not None:  # a mixer is there (the dummy driver plays)
            assert audio._channel.get_busy() and audio.pending == 1
    finally:
        ui.app.close()


def test_confirm_screen_shows_and_says_what_is_signed(kiosk, farmer) -> None:
    ui = make_app(kiosk, audio=True)
    try:
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_vegetable")
        ui.tap("product_V001")
        ui.type_digits("10")
        ui.tap("ok")
        ui.tap("nothing")
        assert ui.on(ConfirmScreen)
        sizes = {r.widget: r.size for r in ui.app.canvas.texts}
        for key, text in [
            ("fact_product", "产品：青菜"),
            ("fact_quantity", "数量：10公斤"),
            ("fact_issuer", "承诺人：张秀英"),
        ]:
            assert text in words(ui)
            assert sizes[key] >= ui.app.metrics.body_px
        assert ui.app.audio.spoken[-1] == "青菜，10公斤，张秀英。"
        assert ui.app.audio.played[-1] == "commitment"  # after the words, not instead
    finally:
        ui.app.close()


# -- product pictures -------------------------------------------------------------------


def test_every_kind_has_its_own_picture(kiosk) -> None:
    from ui.icons import names
    from ui.pictures import product_picture

    products = [p for p in kiosk.catalogue.products.values() if p.in_scope]
    pictures = {product_picture(p) for p in products}
    assert pictures <= set(names())
    wanted = ["V001", "V014", "V007", "V023", "F001", "E001", "L001", "L002", "L004", "A001"]
    kinds = [product_picture(kiosk.catalogue.products[c]) for c in wanted]
    assert len(set(kinds)) == len(kinds), kinds  # leafy, root, fruit vegetable, mushroom ...


def test_vegetables_page_back_and_forth_and_search_stays_reachable(farmer, kiosk) -> None:
    ui = make_app(kiosk, size=(800, 480), dpi=133)
    try:
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_vegetable")
        assert ui.app.find("search") is not None
        assert not ui.app.find("previous_page").tappable
        first = [w.key for w in ui.app.top.widgets if w.key.startswith("product_")]
        ui.tap("more")
        assert ui.app.find("search") is not None
        ui.tap("previous_page")
        assert [w.key for w in ui.app.top.widgets if w.key.startswith("product_")] == first
        pages = ui.app.top.page.count
        assert pages <= 4  # 28 vegetables (巴中's 通江银耳 and 恩阳芦笋 too), 6 pages before
        ui.tap("search")
        ui.tap("letter_J")  # 韭菜 豇豆 金针菇 鸡蛋 鲫鱼: more than three hits
        ui.tap("all_hits")
        keys = [w.key for w in ui.app.top.widgets if w.key.startswith("product_")]
        assert len(keys) == 5 and "product_E001" in keys
        ui.tap("back")
        ui.tap("letter_del")
        ui.tap("letter_Q")
        ui.tap("letter_C")
        ui.tap("product_V001")
        assert ui.on(QuantityScreen)
    finally:
        ui.app.close()


# -- the simulation panel -----------------------------------------------------------------


def test_simulation_panel_injects_through_the_simulators_own_controls(ui, kiosk) -> None:
    ui.tap("technician")
    ui.type_digits("975310")
    ui.tap("ok")
    ui.tap("sim_panel")
    assert ui.on(SimulationScreen)
    ui.screenshot(SHOTS / "simulation.png")
    ui.tap("sim_paper")
    assert kiosk.printer.simulated_device.paper_out
    ui.tap("sim_paper")
    assert not kiosk.printer.simulated_device.paper_out
    ui.tap("sim_online")
    assert kiosk.printer.simulated_device.offline
    ui.tap("sim_online")
    ui.tap("sim_card")
    ui.until(lambda: ui.on(WelcomeScreen))
    assert ui.app.session.producer.name == "张秀英"


def test_simulation_panel_is_not_offered_on_a_real_kiosk(tmp_path) -> None:
    none = {"kind": "none"}
    sim = configured(tmp_path / "data")
    config = configured(
        tmp_path / "data", device={"simulation": False}, reader=none, scanner=none,
        indicators=none, printer={"transport": sim.printer.transport.model_copy(update=none)},
        time={"sync": "timesyncd"},
    )  # fmt: skip
    kiosk = open_kiosk(config)
    kiosk.staff.add("李工", "technician", "975310", by="test")
    ui = make_app(kiosk)
    try:
        ui.tap("technician")
        ui.type_digits("975310")
        ui.tap("ok")
        assert ui.app.find("sim_panel") is None
    finally:
        ui.app.close()
        kiosk.close()


# -- a real X server -----------------------------------------------------------------------

XVFB_RUN = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from pathlib import Path
from app.compose import hardware_desk, open_kiosk
from kiosk.config import load_config
from ui.loop import App
from ui.testing import Driver
kiosk = open_kiosk(load_config(None, data_dir=Path(sys.argv[1])))
app = App(kiosk, hardware_desk(kiosk), size=(800, 480), dpi=133, audio=False)
ui = Driver(app)
farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
ui.scan(farmer.card_code)
ui.tap("new"); ui.tap("category_vegetable"); ui.tap("product_V001")
ui.type_digits("10"); ui.tap("ok"); ui.tap("nothing"); ui.tap("print")
ui.until(lambda: type(app.top).__name__ == "DoneScreen", timeout=30)
import pygame
print(json.dumps({"driver": pygame.display.get_driver(), "printed": len(kiosk.issuance.list())}))
app.close(); kiosk.close()
"""


def test_the_farmer_flow_on_a_real_x_server(tmp_path) -> None:
    """Xvfb (scripts/setup installs it): the x11 video driver, not the dummy one."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb missing: scripts/setup installs the xvfb package"
    display = f":{90 + os.getpid() % 100}"
    server = subprocess.Popen(
        [xvfb, display, "-screen", "0", "1024x600x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": display, "SDL_VIDEODRIVER": "x11"}
        env["SDL_AUDIODRIVER"] = "dummy"
        out = subprocess.run(
            [sys.executable, "-c", XVFB_RUN, str(tmp_path / "data")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result == {"driver": "x11", "printed": 1}
    finally:
        server.terminate()
        server.wait(10)
