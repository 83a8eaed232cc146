"""The loop never waits on a device: jobs run on per-device workers (issue 12).

Real parts: the pygame display (dummy driver), the simulated reader behind its pty, the
simulated printer fed at 9600 baud in real time, systemd's notify protocol on a real
Unix datagram socket, the agent's hardware relay through SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.kiosk import configured
from support.notify import NotifySocket
from support.reader import public_hex, simulated_reader

from app.compose import hardware_desk, open_kiosk, seed_demo_accounts
from drivers.printer.profiles import get_profile
from drivers.printer.sim.device import SimulatedPrinter
from drivers.printer.sim.printer import open_simulated_printer
from kiosk.infra.store import Store
from kiosk.infra.watchdog import Watchdog
from provisioning.hardware import HardwareRelay
from readerlink.firmware_image import build_test_image, sign_image
from ui.loop import App
from ui.screens import register
from ui.screens.farmer import DoneScreen, PrintScreen, WelcomeScreen
from ui.screens.register import CardDoneScreen
from ui.screens.staff import ResultsScreen, RunScreen, StaffScreen
from ui.testing import Driver

VENDOR = Ed25519PrivateKey.generate()


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


def watchdog_for(notify: NotifySocket, interval_s: float) -> Watchdog:
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(int(interval_s * 1e6))}
    return Watchdog(env)


def serve_until(app: App, watchdog: Watchdog, done, timeout: float) -> float:
    """Run the real ``serve()`` loop until ``done()``; returns how long it ran."""
    started = time.monotonic()

    def watch() -> None:
        while not done() and time.monotonic() - started < timeout:
            time.sleep(0.05)
        app.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    app.serve(watchdog)
    watcher.join()
    return time.monotonic() - started


def longest_gap(times: list[float], start: float, end: float) -> float:
    points = [start, *[t for t in times if start <= t <= end], end]
    return max(b - a for a, b in itertools.pairwise(points))


def test_watchdog_pinged_through_a_180_s_enzyme_run(kiosk, tmp_path, notify) -> None:
    """3 minutes of device time (scaled to 6 s): pings never stop for longer than
    the watchdog interval; before issue 12 the loop sat inside the run."""
    producer = kiosk.producers.register("张秀英", "13812345678", "示范村", "2580")
    with simulated_reader(tmp_path / "reader", time_scale=30.0) as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        reader.controls.load_enzyme_sample(1, inhibitor=0.0)
        kiosk.rapid_tests.register_sample(
            "S-1",
            producer_name=producer.name,
            phone=producer.phone,
            producer_id=producer.producer_id,
            product_code="V001",
            inputs_used=("organophosphate",),
        )
        app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
        try:
            method = kiosk.rapid_tests.methods.get("GBT5009199")
            app.push(RunScreen(app, method, ["S-1"]))
            watchdog = watchdog_for(notify, 1.0)
            start = time.monotonic()
            ran = serve_until(app, watchdog, lambda: isinstance(app.top, ResultsScreen), 60)
            end = time.monotonic()
        finally:
            app.close()
    assert isinstance(app.top, ResultsScreen), "the run did not finish"
    assert ran >= 5.0  # the run really took its (scaled) three minutes
    assert app.top.results[0].verdict == "negative"
    assert longest_gap(notify.pings(), start, end) < 1.0
    assert len(notify.pings()) >= int(ran / 0.5) - 1


def test_watchdog_pinged_through_a_relayed_firmware_flash(kiosk, tmp_path, notify) -> None:
    """The agent relays a flash (a 64 KB image at 115200 baud, seconds of transfer):
    the reader's worker runs it, the loop keeps pinging, the agent gets its answer."""
    signed = sign_image(build_test_image("2.0.0", 64 * 1024), "2.0.0", VENDOR)
    args = {
        "image_b64": base64.b64encode(signed.image).decode(),
        "version": "2.0.0",
        "sha256": signed.sha256.hex(),
        "signature": signed.signature.hex(),
    }
    with simulated_reader(
        tmp_path / "reader", baudrate=115200, args=["--trusted-key", public_hex(VENDOR)]
    ) as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
        answer: dict = {}

        def agent() -> None:
            with Store(kiosk.config.paths.database) as store:
                try:
                    answer["result"] = HardwareRelay(store).run("reader_flash", args, "cmd-1")
                except Exception as error:  # reported by the assertion below
                    answer["error"] = error

        thread = threading.Thread(target=agent)
        try:
            thread.start()
            start = time.monotonic()
            ran = serve_until(app, watchdog_for(notify, 1.0), lambda: bool(answer), 120)
            end = time.monotonic()
            thread.join()
        finally:
            app.close()
        assert answer.get("result", {}).get("firmware_version") == "2.0.0", answer
        assert reader.info().firmware_version == "2.0.0"
    assert ran > 2.0
    assert longest_gap(notify.pings(), start, end) < 1.0


def slow_printer_kiosk(tmp_path: Path):
    """A kiosk whose printer takes bytes at 9600 baud in real time (about 1 ms a byte)."""
    profile = get_profile("tspl-60x40")
    device = SimulatedPrinter(profile, baudrate=9600, real_time=True)
    config = configured(tmp_path / "slow", printer={"profile": "tspl-60x40"})
    return open_kiosk(config, printer=open_simulated_printer("tspl-60x40", device)), device


def test_taps_are_handled_while_a_label_prints_at_9600_baud(tmp_path) -> None:
    kiosk, device = slow_printer_kiosk(tmp_path)
    app = App(kiosk, hardware_desk(kiosk), size=(800, 480), dpi=133, audio=True)
    ui = Driver(app)
    try:
        farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_vegetable")
        ui.tap("product_V001")
        ui.type_digits("10")
        ui.tap("ok")
        ui.tap("nothing")
        ui.app.session.copies = 3
        ui.tap("print")
        assert ui.on(PrintScreen) and app.device_busy("printer")
        before = app.audio.played.count("printing")
        ui.tap("say_again")  # handled now, not after the labels
        assert app.device_busy("printer"), "the tap waited for the print"
        assert app.audio.played.count("printing") == before + 1
        ui.until(lambda: ui.on(DoneScreen), timeout=60)
        assert device.label_count == 3 and device.wire_time_s > 1.0
    finally:
        app.close()
        kiosk.close()


def test_a_job_past_its_expected_time_raises_an_alarm_then_clears(ui_app) -> None:
    app, ui = ui_app
    release = threading.Event()
    outcome: list[str] = []
    app.run_job(
        None,
        "printer",
        lambda services, control: release.wait(10),
        label="stuck test",
        expected_s=0.2,
        on_finish=lambda kind, data: outcome.append(kind),
    )
    ui.until(lambda: app.kiosk.alarms.is_open("job_overdue", subject="printer"))
    (alarm,) = [a for a in app.kiosk.alarms.open() if a.code == "job_overdue"]
    assert alarm.detail["job"] == "stuck test" and "超时" in alarm.message
    release.set()
    ui.until(lambda: outcome == ["job_done"])
    assert not app.kiosk.alarms.is_open("job_overdue", subject="printer")
    rows = app.kiosk.store.conn.execute("SELECT schema, body FROM outbox ORDER BY seq").fetchall()
    told = [(schema, "job_overdue" in body) for schema, body in rows[-2:]]
    assert told == [("alarm.raised", True), ("alarm.cleared", True)], rows[-2:]


def test_a_strip_wait_is_cancelled_and_records_nothing(ui_app, tmp_path) -> None:
    app, ui = ui_app
    kiosk = app.kiosk
    producer = kiosk.producers.register("张秀英", "13812345678", "示范村", "2580")
    with simulated_reader(tmp_path / "reader") as reader:
        kiosk.reader = kiosk.rapid_tests.reader = reader
        kiosk.rapid_tests.register_sample(
            "S-2",
            producer_name=producer.name,
            phone=producer.phone,
            producer_id=producer.producer_id,
            product_code="A001",
            inputs_used=(),
        )
        strip = next(
            m
            for m in kiosk.rapid_tests.methods.methods.values()
            if m.kind == "strip" and "aquatic" in m.matrices
        )
        app.push(RunScreen(app, strip, ["S-2"]))
        ui.until(lambda: app.find("cancel") is not None)
        assert "等待显色" in " ".join(ui.texts())
        ui.tap("cancel")
        ui.until(lambda: "已取消" in " ".join(ui.texts()))
        assert not app.device_busy("reader")
    runs = kiosk.store.conn.execute("SELECT count(*) FROM rapid_runs").fetchone()[0]
    assert runs == 0


@pytest.fixture
def ui_app(kiosk):
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    yield app, Driver(app)
    app.close()


def test_pin_checks_run_on_a_worker_not_the_ui_thread(kiosk, monkeypatch) -> None:
    """scrypt costs ~0.2 s here and about 0.8 s on a Pi 4: staff and farmer PIN checks
    run on the PIN worker while the loop keeps drawing ("正在核对密码")."""
    app = App(kiosk, hardware_desk(kiosk), size=(800, 480), audio=False)
    seed_demo_accounts(kiosk)
    app.producers.register("张秀英", "13812345678", "示范村", "258013")
    ui = Driver(app)
    threads: list[str] = []
    real = hashlib.scrypt

    def scrypt(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    try:
        ui.tap("staff")
        ui.tap("account_1")
        ui.type_digits("135790")
        ui.tap("ok")
        assert ui.on(StaffScreen) and app.operator.name == "演示员"
        ui.tap("home")
        ui.tap("phone")
        ui.type_digits("13812345678")
        ui.tap("ok")
        ui.type_digits("258013")
        ui.tap("ok")
        assert ui.on(WelcomeScreen) and app.session.who().name == "张秀英"
    finally:
        app.close()
    assert threads and set(threads) == {"device:pin"}, threads


def test_registration_hashes_the_pin_on_a_worker(kiosk, monkeypatch) -> None:
    """A new farmer's PIN is hashed (scrypt: ~0.8 s on a Pi 4) on the PIN worker while a
    waiting screen is drawn; a second tap on a village meanwhile registers nobody twice."""
    app = App(kiosk, hardware_desk(kiosk), size=(800, 480), audio=False)
    ui = Driver(app)
    threads: list[str] = []
    release = threading.Event()
    real = hashlib.scrypt

    def scrypt(*args, **kwargs):
        threads.append(threading.current_thread().name)
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    try:
        ui.tap("register")
        ui.tap("use_pinyin")
        for letter in "WANG":
            ui.tap(f"letter_{letter}")
        ui.tap("char_王")
        ui.tap("ok")
        ui.type_digits("13900001111")
        ui.type_digits("1357")
        ui.tap("ok")
        ui.type_digits("1357")
        ui.tap("ok")
        ui.tap("village_330100001002")
        assert "正在登记" in " ".join(ui.texts())  # drawn while the hash is still running
        register.register(app, "西山村")  # a second village tap reaching through the wait
        release.set()
        ui.until(lambda: ui.on(CardDoneScreen))
    finally:
        release.set()
        app.close()
    assert threads and set(threads) == {"device:pin"}, threads
    (farmer,) = kiosk.producers.by_phone("13900001111")
    assert (farmer.name, farmer.village) == ("王", "东山村")
