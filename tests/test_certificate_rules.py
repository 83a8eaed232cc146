"""Certificates that cannot lie (issue 14): banned inputs, and the rules that follow.

Each rule is tried as a township official would: through the service, the real CLI
and the touch UI driver, with the county's collector listening on a real broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from support.kiosk import ARTIFACTS, configured, request, row_counts
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.printer_decode import tspl_texts
from support.rapidtest import PRODUCER, ShiftClock
from support.rapidtest import service as rapid_service
from support.reader import simulated_reader
from support.uplink import collector_settings, wait_until
from test_event_contract import collector_view

from app.compose import hardware_desk, open_kiosk
from drivers.printer.base import LabelPrinter, PrinterStatus, ProgressCallback
from drivers.printer.document import LabelDocument
from kiosk.config import ConfigError, check_startable, load_config, parse_config, simulated_parts
from kiosk.domain.catalogue import Catalogue
from kiosk.domain.model import Basis, Issuer, Style
from kiosk.domain.validation import InputError
from kiosk.infra.numbering import COUNTER
from kiosk.infra.uplink import Uplink, UplinkSettings
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.kiosk import Kiosk
from kiosk.services.rapidtest import SampleSlot
from kiosk.services.rapidtest_records import RapidTestSettings
from station.collector import Collector
from station.db import Database
from ui.loop import App
from ui.screens.common import MessageScreen
from ui.screens.farmer import (
    ConfirmScreen,
    DoneScreen,
    EarTagScreen,
    InputsScreen,
    QuantityScreen,
    SourcesScreen,
    WelcomeScreen,
)
from ui.testing import Driver
from wire.signing import SigningKey

SHOTS = ARTIFACTS / "screens" / "certificates"
BANNED_CODES = {"malachite_green", "nitrofuran", "sedative", "fipronil", "beta_agonist",
                "chloramphenicol"}  # fmt: skip


def kiosk_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---- 1. banned substances -----------------------------------------------------------


def test_the_catalogue_marks_banned_inputs_with_their_legal_source(kiosk: Kiosk) -> None:
    banned = {i.code: i for i in kiosk.catalogue.inputs.values() if i.banned}
    assert set(banned) == BANNED_CODES
    assert "第250号" in banned["malachite_green"].source
    assert "第1157号" in banned["fipronil"].source
    assert "地西泮" in banned["sedative"].source
    offered = {i.code for i in kiosk.catalogue.declarable_inputs()}
    assert not offered & BANNED_CODES and "organophosphate" in offered


def test_a_declared_banned_input_is_refused_alarmed_and_audited(kiosk: Kiosk) -> None:
    before = row_counts(kiosk)
    floor = kiosk.numbers.read_floor()
    numbered = kiosk.store.counter(COUNTER)
    issuer = Issuer("李四", "13912345678")
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(
            request(
                issuer=issuer, product_code="E001", inputs_used=("malachite_green", "nitrofuran")
            )
        )
    assert refused.value.code == "banned_input"
    assert "孔雀石绿" in refused.value.message and "不能开具合格证" in refused.value.message
    assert "banned" in refused.value.message_en and "Malachite green" in refused.value.message_en
    after = row_counts(kiosk)
    # nothing issued, no number spent, nothing printed: only the alarm went out
    for table in ("certificates", "print_jobs", "holds"):
        assert after[table] == before[table], table
    assert after["outbox"] == before["outbox"] + 1
    assert kiosk.numbers.read_floor() == floor and kiosk.store.counter(COUNTER) == numbered
    assert kiosk.printer.simulated_device.label_count == 0
    (alarm,) = kiosk.alarms.open()
    assert alarm.code == "banned_input_declared" and alarm.severity == "critical"
    assert alarm.detail["producer_key"] == "tel:13912345678"
    assert alarm.detail["product_code"] == "E001"
    assert alarm.detail["inputs"] == ["malachite_green", "nitrofuran"]
    (entry,) = [e for e in kiosk.audit.entries() if e.kind == "certificate.refused"]
    assert entry.data["reason"] == "banned_input" and entry.data["product_code"] == "E001"
    assert kiosk.audit.verify().ok
    # the preview refuses too (the touch UI asks it before the confirm screen)
    with pytest.raises(IssuanceRefused):
        kiosk.issuance.preview(request(product_code="A001", inputs_used=("malachite_green",)))


def test_the_touch_ui_never_offers_a_banned_input(kiosk: Kiosk) -> None:
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_aquatic")
        ui.tap("product_A001")
        assert ui.on(QuantityScreen)
        ui.type_digits("20")
        ui.tap("ok")
        assert ui.on(InputsScreen)
        keys = set()
        screen = app.top
        assert isinstance(screen, InputsScreen)
        keys = {o.key for o in screen.options()}
        assert "input_fluoroquinolone" in keys
        assert not {f"input_{c}" for c in BANNED_CODES} & keys
        # a repeated session that carries a banned input from an old record is refused
        app.session.inputs = ("malachite_green",)
        screen.chosen = ["malachite_green"]
        screen.done()
        ui.settle()
        assert ui.on(MessageScreen)
        assert "禁用" in " ".join(ui.texts())
        assert kiosk.issuance.list() == []
    finally:
        app.close()


def test_cli_refusal_reaches_a_real_collector(tmp_path: Path, broker_factory) -> None:  # noqa: F811
    data = tmp_path / "data"
    args = [
        "issue", "--issuer", "王建国", "--phone", "13912345678", "--product", "鸡蛋",
        "--quantity", "30", "--origin", "四川省巴中市巴州区清江镇", "--inputs",
        "malachite_green,nitrofuran",
    ]  # fmt: skip
    refused = kiosk_cli(data, *args)
    assert refused.returncode == 1, refused.stdout
    assert "禁用" in refused.stderr and "banned by law" in refused.stderr
    listing = kiosk_cli(data, "certificates", "list", "--json")
    assert json.loads(listing.stdout) == []

    broker = broker_factory()
    station_db = tmp_path / "station.db"
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        settings = UplinkSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.1,
                                  reconnect_max_s=0.5, poll_interval_s=0.2)  # fmt: skip
        with Uplink(settings, data / "kiosk.db", "330100", "K001") as uplink:
            assert uplink.wait_drained(20), uplink.stats()
            wait_until(lambda: collector.stats().stored >= 1, 10, "alarm stored")
    with Database(station_db) as db:
        rows = db.query("SELECT schema_name, body FROM events")
    alarms = [json.loads(body) for schema, body in rows if schema == "alarm.raised"]
    (alarm,) = [a for a in alarms if a["data"]["code"] == "banned_input_declared"]
    detail = alarm["data"]["detail"]
    assert detail["producer_key"] == "tel:13912345678" and detail["product_code"] == "E001"
    assert detail["product_name"] == "鸡蛋" and detail["issuer_name"] == "王建国"


# ---- 7. production-safe configuration ---------------------------------------------

EXAMPLE = Path(__file__).parents[1] / "docs" / "deploy" / "kiosk.example.toml"
COUNTY_URL = 'verify_url = "HTTPS://QS.BZ.NCP.CN/V/"'


def example_with_file_printer(tmp_path: Path, device_file: Path, *, url: bool = True) -> Path:
    """The deployment example as a technician leaves it, with the printer on a device file."""
    text = EXAMPLE.read_text("utf-8")
    start = text.index("[printer.transport]")
    end = text.index("\n[", start + 1)
    text = (
        text[:start]
        + f'[printer.transport]\nkind = "file"\ndevice_file = "{device_file}"\n'
        + text[end:]
    )
    if url:
        text = text.replace('verify_url = "HTTPS://QS.EXAMPLE.GOV.CN/V/"', COUNTY_URL)
    # This machine has no systemd to say the clock is synchronised: an RTC stands in
    # (a directory where /sys/class/rtc/rtc0 would be), so the clock is trusted.
    rtc = tmp_path / "rtc0"
    rtc.mkdir(exist_ok=True)
    text = text.replace("rtc = false ", f'rtc = true\nrtc_device = "{rtc}"\n#', 1)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, "utf-8")
    return path


def test_absent_sections_mean_no_device_and_simulation_must_be_asked_for() -> None:
    config = parse_config({})
    assert config.printer.transport.kind == "none"
    assert (config.reader.kind, config.scanner.kind, config.indicators.kind) == ("none",) * 3
    assert simulated_parts(config) == []
    with pytest.raises(ConfigError, match=r"^reader\.kind: simulated devices exist only"):
        parse_config({"reader": {"kind": "simulated"}})
    assert parse_config({"device": {"simulation": True}, "reader": {"kind": "simulated"}})


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"printer": {"transport": {"kind": "usb"}}}, "printer.transport.usb_vendor"),
        ({"printer": {"transport": {"kind": "usb", "usb_vendor": "zz", "usb_product": "1"}}},
         "printer.transport.usb_vendor"),
        ({"printer": {"transport": {"kind": "serial"}}}, "printer.transport.serial_port"),
        ({"printer": {"transport": {"kind": "network"}}}, "printer.transport.host"),
        ({"printer": {"profile": "tspl-99"}}, "printer.profile: unknown printer profile"),
        ({"printer": {"profile": "escpos-80-native", "paper": "label-60x40"}}, "printer.profile"),
        ({"printer": {"profile": "escpos-58-raster", "paper": "roll-80"}}, "printer.profile"),
        ({"printer": {"profile": "tspl-60x40", "paper": "roll-58"}}, "printer.profile"),
        ({"reader": {"kind": "serial"}}, "reader.port"),
        ({"scanner": {"kind": "evdev"}}, "scanner.device"),
        ({"fonts": {"cjk": "/nonexistent/font.ttf"}}, "fonts.cjk"),
    ],
)  # fmt: skip
def test_what_can_be_checked_at_load_is_checked_and_names_the_key(
    document: dict, named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document)
    assert str(error.value).startswith(named), error.value


def test_a_mismatched_profile_is_refused_at_start_by_the_cli(tmp_path: Path) -> None:
    config = example_with_file_printer(tmp_path, tmp_path / "lp0")
    text = config.read_text("utf-8")
    text = text.replace('profile = "tspl-60x40"', 'profile = "escpos-58-raster"')
    config.write_text(text, "utf-8")
    started = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "--data-dir",
         str(tmp_path / "data"), "certificates"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 2
    assert "configuration error: printer.profile: escpos-58-raster" in started.stderr
    assert not (tmp_path / "data" / "kiosk.db").exists()  # refused before anything opened


def test_the_example_config_starts_with_no_simulated_part_and_prints_to_the_file(
    tmp_path: Path,
) -> None:
    lp = tmp_path / "lp0"
    lp.write_bytes(b"")
    data = tmp_path / "data"
    placeholder = example_with_file_printer(tmp_path, lp, url=False)
    cli = [sys.executable, "-m", "app.cli", "--config", str(placeholder), "--data-dir", str(data)]
    refused = subprocess.run([*cli, "certificates"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "certificate.verify_url" in refused.stderr
    assert "placeholder" in refused.stderr

    config_path = example_with_file_printer(tmp_path, lp)
    config = load_config(config_path, data_dir=data)
    assert simulated_parts(config) == [] and not config.device.simulation
    assert (config.reader.kind, config.scanner.kind, config.indicators.kind) == (
        "serial", "evdev", "gpio",
    )  # fmt: skip
    issued = subprocess.run(
        [*cli, "issue", "--issuer", "巴中市巴州区清江镇绿源蔬菜专业合作社"[:16], "--phone",
         "13912345678", "--product", "青菜", "--quantity", "30", "--origin", "巴州区清江镇",
         "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    result = json.loads(issued.stdout)
    assert result["printed"] and result["number"] == "511902-K001-0000001"
    assert result["qr_text"].startswith("HTTPS://QS.BZ.NCP.CN/V/")
    sent = lp.read_bytes()
    assert b"SIZE 60 mm" in sent and result["number"].encode() in sent
    assert "演示".encode("gb18030") not in sent  # a real kiosk's label


def test_a_simulated_kiosk_says_so_on_every_label_and_its_numbers_are_not_a_countys(
    kiosk: Kiosk,
) -> None:
    assert kiosk.config.device.simulation and kiosk.config.device.county.endswith("00")
    outcome = kiosk.issuance.issue(request())
    texts = tspl_texts(bytes(kiosk.printer.simulated_device.received))
    assert any("【演示】" in t for t in texts), texts
    doc = kiosk.issuance.layout(outcome.certificate)
    assert any("【演示】" in getattr(b, "text", "") for b in doc.blocks)
    real_county = kiosk.config.device.model_copy(update={"county": "511902"})
    with pytest.raises(ConfigError, match=r"device\.county: a simulation uses"):
        check_startable(kiosk.config.model_copy(update={"device": real_county}))


# ---- 8. printing truth ------------------------------------------------------------


class ExplodingPrinter(LabelPrinter):
    """A driver that fails with something other than PrinterError mid-job."""

    def status(self) -> PrinterStatus:
        return PrinterStatus()

    def print_label(
        self, document: LabelDocument, copies: int = 1, progress: ProgressCallback | None = None
    ) -> None:
        raise UnicodeEncodeError("gb18030", "\udc80", 0, 1, "a driver bug")

    def close(self) -> None:
        pass


def test_any_error_while_printing_ends_the_job_failed_with_an_alarm(
    make_kiosk, tmp_path: Path
) -> None:
    kiosk = make_kiosk()
    kiosk.issuance.printer = ExplodingPrinter()
    outcome = kiosk.issuance.issue(request())
    assert not outcome.printed and outcome.error is not None and outcome.copies_done == 0
    states = kiosk.store.conn.execute("SELECT state, error FROM print_jobs").fetchall()
    assert [s for s, _ in states] == ["failed"] and "UnicodeEncodeError" in states[0][1]
    assert kiosk.alarms.is_open("print_failed")
    assert kiosk.issuance.unprinted() == [outcome.certificate]


def test_a_first_print_that_never_came_out_is_not_marked_reprinted(kiosk: Kiosk) -> None:
    device = kiosk.printer.simulated_device
    device.run_out_of_paper_after(0)
    failed = kiosk.issuance.issue(request(copies=2))
    assert failed.copies_done == 0
    device.load_paper()
    resumed = kiosk.issuance.reprint(failed.certificate.number, copies=2)
    assert resumed.printed
    assert not any("补打" in t for t in tspl_texts(bytes(device.received)))
    device.received.clear()
    again = kiosk.issuance.reprint(failed.certificate.number)  # now one was printed: 补打
    assert again.printed and any("补打" in t for t in tspl_texts(bytes(device.received)))


def test_the_touch_ui_asks_the_printer_before_the_flow_starts(kiosk: Kiosk) -> None:
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
        ui.scan(farmer.card_code)
        assert ui.on(WelcomeScreen)
        app._next_printer_poll = float("inf")  # the paper ends between two idle polls
        ui.until(lambda: not app.jobs)
        kiosk.printer.simulated_device.load_paper(0)
        ui.tap("new")
        assert ui.on(MessageScreen) and "缺纸" in " ".join(ui.texts())
        assert kiosk.issuance.list() == [] and kiosk.alarms.is_open("paper_out")
    finally:
        app.close()


def test_config_show_says_what_is_simulated(tmp_path: Path) -> None:
    shown = kiosk_cli(tmp_path / "data", "config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["simulation"] is True
    assert "printer.transport.kind" in data["simulated_parts"]
    text = kiosk_cli(tmp_path / "data", "config", "show").stdout
    assert "SIMULATION (演示)" in text


# ---- 2. one producer, one identity -------------------------------------------------


def test_a_held_producer_is_refused_by_card_phone_platform_code_and_a_new_phone(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        reg = app.producers
        farmer = reg.register("张秀英", "13812345678", "示范村", "2580")
        farmer = reg.bind(farmer.producer_id, platform_code="ZT511902000001")
        # the hold was placed on the phone (tel:), before any card was scanned
        kiosk.holds.place("tel:13812345678", "V001", "有机磷阳性", "RT-K001-000009")
        before = row_counts(kiosk)

        def refused_in_the_ui() -> None:
            ui.tap("new")
            ui.tap("category_vegetable")
            ui.tap("product_V001")
            assert ui.on(MessageScreen) and "暂停开证" in " ".join(ui.texts())
            app.go_home(greet=False)

        ui.scan(farmer.card_code)  # the card
        assert ui.on(WelcomeScreen)
        refused_in_the_ui()
        ui.scan("ZT511902000001")  # the national 主体码
        assert ui.on(WelcomeScreen)
        refused_in_the_ui()
        for phone in ("13812345678", "13987654321"):  # the phone, then a new phone bound
            if phone != farmer.phone:
                farmer = reg.bind(farmer.producer_id, phone=phone)
            ui.tap("phone")
            ui.type_digits(phone)
            ui.tap("ok")
            ui.type_digits("2580")
            ui.tap("ok")
            assert ui.on(WelcomeScreen), phone
            refused_in_the_ui()
        # through the service as a headless caller: any identifier, the same key
        for issuer in (
            Issuer("张秀英", "13812345678"),
            Issuer("张秀英", "13987654321"),
            Issuer("张秀英", "13700000000", "ZT511902000001"),
            Issuer("张秀英", "13700000000", farmer.card_code),
        ):
            with pytest.raises(IssuanceRefused, match="暂停开证"):
                kiosk.issuance.issue(request(issuer=issuer))
        with pytest.raises(InputError) as unknown:  # an id that names nobody
            kiosk.issuance.issue(request(issuer=Issuer("张秀英", "13812345678", "ANYTHING")))
        assert unknown.value.field == "producer_id"
        assert row_counts(kiosk) == before
        # another product of the same producer is not held, and is recorded on the key
        other = Issuer("张秀英", "13812345678")
        cert = kiosk.issuance.issue(request(issuer=other, product_code="V002"))
        assert cert.printed and cert.certificate.issuer.producer_key == farmer.producer_id
    finally:
        app.close()


def test_cards_carry_an_unguessable_token_and_the_cli_resolves_identifiers(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    base = ["issue", "--issuer", "王建国", "--phone", "13912345678", "--product", "青菜",
            "--quantity", "3", "--origin", "巴州区清江镇"]  # fmt: skip
    anything = kiosk_cli(data, *base, "--producer-id", "ANYTHING")
    assert anything.returncode == 1 and "producer_id" in anything.stderr
    guessed = kiosk_cli(data, *base, "--producer-id", "AQP1:K001-P000001")
    assert guessed.returncode == 1 and "producer_id" in guessed.stderr
    assert json.loads(kiosk_cli(data, "certificates", "list", "--json").stdout) == []


def test_cli_binds_a_new_phone_and_the_hold_follows_the_producer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_kiosk(configured(data)) as kiosk:
        farmer = kiosk.producers.register("王建国", "13912345678", "示范村", "2580")
        kiosk.holds.place(farmer.producer_id, "V001", "有机磷阳性", "RT-K001-000001")
    bound = kiosk_cli(data, "producers", "bind", farmer.card_code, "--phone", "13511112222")
    assert bound.returncode == 0, bound.stderr
    issue = ["issue", "--issuer", "王建国", "--product", "青菜", "--quantity", "3",
             "--origin", "巴州区清江镇"]  # fmt: skip
    for phone in ("13511112222", "13912345678"):
        refused = kiosk_cli(data, *issue, "--phone", phone)
        assert refused.returncode == 1 and "暂停开证" in refused.stderr, phone
    taken = kiosk_cli(data, "producers", "bind", farmer.producer_id, "--id-number", "12345")
    assert taken.returncode == 1 and "id_number" in taken.stderr


# ---- 3. evidence per batch ---------------------------------------------------------


def negative_sample(kiosk: Kiosk, reader, sample_id: str, batch: str | None, **kw):  # type: ignore[no-untyped-def]
    svc = rapid_service(kiosk, reader, **kw)
    kiosk.issuance.evidence = svc.evidence
    kiosk.issuance.sample_of = svc.sample_of
    svc.register_sample(
        sample_id, product_code="V001", inputs_used=["organophosphate"], batch_quantity=batch,
        sampling_place="清江镇东村田间", **PRODUCER,
    )  # fmt: skip
    reader.controls.load_enzyme_sample(1, inhibitor=0.0)
    (neg,) = svc.run_enzyme("GBT5009199", [SampleSlot(sample_id, 1)]).results
    assert neg.verdict == "negative"
    return svc, neg


def test_self_test_evidence_is_exhausted_by_quantity_and_names_the_sample(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    with simulated_reader(tmp_path / "reader") as reader:
        _svc, neg = negative_sample(kiosk, reader, "S-B1", "1000")
    based = {"basis": Basis.SELF_TEST, "test_ref": neg.test_id}
    first = kiosk.issuance.issue(request(quantity=Decimal(600), **based))
    assert first.printed and first.certificate.sample_id == "S-B1"
    texts = tspl_texts(bytes(kiosk.printer.simulated_device.received))
    joined = "".join(texts)
    assert "自行检测合格（检测样品" in joined and "S-B1）" in joined, texts
    second = kiosk.issuance.issue(request(quantity=Decimal(400), **based))
    assert second.printed
    before = row_counts(kiosk)
    with pytest.raises(IssuanceRefused) as refused:  # 1000 kg certified: the batch is spent
        kiosk.issuance.issue(request(quantity=Decimal("0.5"), **based))
    assert "共1000公斤" in refused.value.message and "最多还能开0公斤" in refused.value.message
    assert row_counts(kiosk) == before
    with pytest.raises(IssuanceRefused, match="按公斤填写"):
        kiosk.issuance.issue(request(quantity=Decimal(1), unit="斤", **based))
    kiosk.issuance.void(second.certificate.number, "称重错误")  # a voided one frees its part
    assert kiosk.issuance.issue(request(quantity=Decimal(400), **based)).printed
    seen = collector_view(kiosk)
    issued = [e["data"] for e in seen if e["schema"] == "certificate.issued"]
    assert [d.get("sample_id") for d in issued] == ["S-B1"] * 3


def test_self_test_evidence_is_exhausted_by_time(kiosk: Kiosk, tmp_path: Path) -> None:
    clock = ShiftClock(kiosk.clock)
    kiosk.issuance.clock = clock
    with simulated_reader(tmp_path / "reader") as reader:
        svc, neg = negative_sample(kiosk, reader, "S-T1", "100", clock=clock)
        _, undeclared = negative_sample(kiosk, reader, "S-T0", None, clock=clock)
    based = {"basis": Basis.SELF_TEST, "test_ref": neg.test_id}
    with pytest.raises(IssuanceRefused, match="没有登记生产批次"):
        kiosk.issuance.issue(request(basis=Basis.SELF_TEST, test_ref=undeclared.test_id))
    clock.shift = timedelta(days=1)  # default: the same day only
    with pytest.raises(IssuanceRefused, match="只能在抽样当天开具"):
        kiosk.issuance.issue(request(**based))
    hourly = RapidTestSettings(evidence_window_h=2)
    svc.settings = hourly
    clock.shift = timedelta(hours=1)
    assert svc.evidence(request(**based)) is None
    clock.shift = timedelta(hours=3)
    assert "超过2小时" in (svc.evidence(request(**based)) or "")
    with pytest.raises(ConfigError, match="evidence_window_h"):
        parse_config({"certificate": {"evidence_window_h": 25}})


def test_commissioned_test_prints_the_lab_and_report_number(kiosk: Kiosk) -> None:
    outcome = kiosk.issuance.issue(
        request(basis=Basis.COMMISSIONED_TEST, test_ref="BZ-2026-0042", lab_name="巴中市农检中心")
    )
    assert outcome.printed and outcome.certificate.lab_name == "巴中市农检中心"
    texts = "".join(tspl_texts(bytes(kiosk.printer.simulated_device.received)))
    assert "委托检测合格（巴中市农检中心" in texts and "BZ-2026-0042）" in texts, texts
    (issued,) = [e["data"] for e in collector_view(kiosk) if e["schema"] == "certificate.issued"]
    assert issued["lab_name"] == "巴中市农检中心" and issued["test_ref"] == "BZ-2026-0042"
    with pytest.raises(InputError) as refused:
        kiosk.issuance.issue(request(basis=Basis.COMMISSIONED_TEST, test_ref="BZ-1"))
    assert refused.value.field == "lab_name"


# ---- 4. 样式二 -------------------------------------------------------------------------


def test_buyer_certificate_with_three_scanned_sources_each_refused_with_its_reason(
    kiosk: Kiosk,
) -> None:
    grower = Issuer("李四", "13912345678")
    good = [kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(q))).certificate
            for q in (30, 20)]  # fmt: skip
    other = kiosk.issuance.issue(request(issuer=grower, product_code="V002")).certificate
    voided = kiosk.issuance.issue(request(issuer=grower)).certificate
    kiosk.issuance.void(voided.number, "称重错误")
    body = good[0].qr_text
    forged = body[:-4] + ("AAAA" if not body.endswith("AAAA") else "BBBB")
    buyer = Issuer("王收购", "13700000000")
    before = row_counts(kiosk)
    cases = [(forged, "签名不对"), (other.qr_text, "是大白菜的，不是青菜"),
             (voided.qr_text, "已作废"), ("511902-K009-0000001", "不是本机开具的")]  # fmt: skip
    for source, reason in cases:
        with pytest.raises(InputError) as refused:
            kiosk.issuance.issue(request(issuer=buyer, style=Style.BUYER, sources=(source,)))
        assert refused.value.field == "sources" and reason in refused.value.message, source
    # the same scan is checked one by one, as the touch UI does
    assert kiosk.issuance.sources.check(good[0].qr_text, "V001").quantity == Decimal(30)
    with pytest.raises(InputError, match="最多50公斤"):  # 混装 of 30 + 20 kg
        kiosk.issuance.issue(request(issuer=buyer, style=Style.BUYER, quantity=Decimal(51),
                                     sources=tuple(c.qr_text for c in good)))  # fmt: skip
    assert row_counts(kiosk) == before
    mixed = kiosk.issuance.issue(request(issuer=buyer, style=Style.BUYER, quantity=Decimal(45),
                                         sources=tuple(c.qr_text for c in good)))  # fmt: skip
    assert mixed.printed and mixed.certificate.sources == tuple(c.number for c in good)
    assert kiosk.issuance.get(mixed.certificate.number).sources == mixed.certificate.sources
    texts = "".join(tspl_texts(bytes(kiosk.printer.simulated_device.received)))
    assert f"{good[0].number}、{good[1].number}" in texts
    (event,) = [
        e["data"]
        for e in collector_view(kiosk)
        if e["schema"] == "certificate.issued" and e["data"]["style"] == "style2"
    ]
    assert event["sources"] == [c.number for c in good]
    # a 混装 certificate counts whole against each of its sources (which part came from
    # which is not known): conservative, never more than the sources certified
    with pytest.raises(InputError, match="已开具45公斤，本次最多0公斤"):
        kiosk.issuance.issue(request(issuer=buyer, style=Style.BUYER, quantity=Decimal(6),
                                     sources=(good[0].qr_text,)))  # fmt: skip


def test_buyer_scans_sources_in_the_touch_ui(kiosk: Kiosk) -> None:
    grower = Issuer("李四", "13912345678")
    good = kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(30))).certificate
    other = kiosk.issuance.issue(request(issuer=grower, product_code="V002")).certificate
    voided = kiosk.issuance.issue(request(issuer=grower)).certificate
    kiosk.issuance.void(voided.number, "称重错误")
    forged = good.qr_text[:-4] + ("AAAA" if not good.qr_text.endswith("AAAA") else "BBBB")
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        buyer = app.producers.register("王收购", "13700000000", "示范村", "2580")
        ui.scan(buyer.card_code)
        ui.tap("buyer")
        ui.tap("category_vegetable")
        ui.tap("product_V001")
        ui.type_digits("25")
        ui.tap("ok")
        assert ui.on(SourcesScreen)
        assert not app.find("sources_done").enabled  # nothing scanned yet
        for code, reason in ((forged, "签名不对"), (other.qr_text, "不是青菜"),
                             (voided.qr_text, "已作废")):  # fmt: skip
            ui.scan(code)
            assert reason in " ".join(ui.texts()), reason
        assert app.session.source_numbers == []
        ui.scan(good.qr_text)
        assert app.session.source_numbers == [good.number]
        ui.screenshot(SHOTS / "sources.png")
        ui.tap("sources_done")
        assert ui.on(ConfirmScreen)
        ui.tap("print")
        ui.until(lambda: ui.on(DoneScreen))
        (cert,) = kiosk.issuance.list(producer_key=buyer.producer_id)
        assert cert.style is Style.BUYER and cert.sources == (good.number,)
        assert cert.template_id == "2025-style2" and cert.quantity == Decimal(25)
    finally:
        app.close()


# ---- 5. names and fields as registered ---------------------------------------------

COOPERATIVE = "巴中市巴州区清江镇绿源蔬菜专业合作社"


def test_a_cooperatives_full_name_prints_wrapped_without_orphans(make_kiosk) -> None:
    kiosk = make_kiosk()
    outcome = kiosk.issuance.issue(request(issuer=Issuer(COOPERATIVE, "08275551234")))
    assert outcome.printed and outcome.certificate.issuer.phone == "0827-5551234"
    texts = "".join(tspl_texts(bytes(kiosk.printer.simulated_device.received)))
    assert COOPERATIVE in texts.replace("\n", "") and "0827-5551234" in texts
    roll = make_kiosk(profile="escpos-80-raster", paper="roll-80",
                      data_dir=kiosk.config.paths.data_dir.parent / "roll")  # fmt: skip
    name = ("四川省巴中市巴州区清江镇绿源蔬菜专业合作社联合社" * 3)[:50]
    cert = roll.issuance.issue(request(issuer=Issuer(name, "010 12345678"))).certificate
    assert cert.issuer.name == name and cert.issuer.phone == "010-12345678"
    for document in (kiosk.issuance.layout(outcome.certificate), roll.issuance.layout(cert)):
        for line in document.texts():
            assert not (len(line) == 1 and not line.isascii()), document.texts()


def test_a_paragraph_never_ends_on_one_character() -> None:
    from drivers.printer.document import text_width, wrap_text

    text = "承诺依据：质量安全控制符合要求"
    width = text_width(text[:-1], 24)  # one character short: the old break left 求 alone
    lines = wrap_text(text, 24, width)
    assert len(lines) == 2 and len(lines[-1]) >= 2 and "".join(lines) == text


def test_cattle_carry_the_quarantine_certificate_and_every_ear_tag(make_kiosk) -> None:
    kiosk = make_kiosk(profile="escpos-80-native", paper="roll-80")
    tags = ("151190200000001", "151190200000002")
    outcome = kiosk.issuance.issue(
        request(
            product_code="L002",
            unit="头",
            quantity=Decimal(2),
            inputs_used=(),
            quarantine_cert="5100012345",
            ear_tags=tags,
        )
    )
    assert outcome.printed
    cert = kiosk.issuance.get(outcome.certificate.number)
    assert cert.quarantine_cert == "5100012345" and cert.ear_tags == tags
    lines = kiosk.issuance.layout(cert).texts()
    assert any("检疫证明：5100012345" in t for t in lines)
    assert "151190200000001" in "".join(lines) and "151190200000002" in "".join(lines)
    (issued,) = [e["data"] for e in collector_view(kiosk) if e["schema"] == "certificate.issued"]
    assert issued["quarantine_cert"] == "5100012345" and issued["ear_tags"] == list(tags)


def test_cattle_in_the_touch_ui_quarantine_number_and_ear_tags(kiosk: Kiosk) -> None:
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_livestock")
        ui.tap("product_L002")
        ui.type_digits("2")
        ui.tap("ok")
        assert "动物检疫合格证明" in " ".join(ui.texts())
        ui.type_digits("5100012345")
        ui.tap("ok")
        assert ui.on(EarTagScreen) and not app.find("ear_tags_done").enabled
        ui.scan("12345")
        assert "不是耳标号" in " ".join(ui.texts())
        for tag in ("151190200000001", "151190200000001", "151190200000002"):
            ui.scan(tag)
        assert app.session.ear_tags == ["151190200000001", "151190200000002"]
        ui.tap("ear_tags_done")
        ui.tap("nothing")
        assert ui.on(ConfirmScreen)
        ui.tap("print")
        ui.until(lambda: ui.on(DoneScreen))
        (cert,) = kiosk.issuance.list()
        assert cert.quarantine_cert == "5100012345"
        assert cert.ear_tags == ("151190200000001", "151190200000002")
    finally:
        app.close()


def test_a_name_the_qr_cannot_hold_with_the_rest_is_refused_naming_it(kiosk: Kiosk) -> None:
    before = row_counts(kiosk)
    with pytest.raises(InputError) as refused:
        kiosk.issuance.issue(
            request(
                issuer=Issuer("豫" * 50, "13812345678"),
                origin="豫" * 24,
                quantity=Decimal("49999.99"),
            )
        )
    assert refused.value.field == "issuer.name" and "放不下" in refused.value.message
    assert row_counts(kiosk) == before


# ---- 6. the county's catalogue -----------------------------------------------------


def test_the_embedded_catalogue_has_bazhong_specialities() -> None:
    catalogue = Catalogue.load()
    names = {p.name: p for p in catalogue.products.values()}
    assert {"通江银耳", "恩阳芦笋", "南江黄羊", "巴山土鸡", "茶鲜叶"} <= set(names)
    assert "茶叶鲜叶" not in names and catalogue.categories["tea"].name == "茶鲜叶"
    assert catalogue.find("tjye").name == "通江银耳"


def test_a_signed_bundle_extends_the_catalogue(tmp_path: Path) -> None:
    from support.provisioning import COUNTY_KEY, enrolled_config, now

    from kiosk.config import effective_config
    from kiosk.infra.audit import AuditLog
    from kiosk.infra.store import Store
    from provisioning.configs import ConfigManager, ConfigRefused
    from wire.provisioning import make_config_bundle

    config = enrolled_config(tmp_path / "data")
    store = Store(config.paths.database)
    manager = ConfigManager(config, store, AuditLog(store, now), now)
    pepper = {"code": "B010", "name": "平昌青花椒", "name_en": "Pingchang green pepper",
              "pinyin": "ping chang qing hua jiao", "initials": "PCQHJ",
              "category": "fruit", "default_unit": "公斤", "units": ["公斤", "斤"]}  # fmt: skip
    banned = {"code": "carbofuran", "kind": "pesticide", "name": "克百威",
              "name_en": "Carbofuran", "status": "banned",
              "source": "农业农村部公告第536号（2022）"}  # fmt: skip
    settings = {"catalogue": {"products": [pepper], "inputs": [banned]}}
    forged = make_config_bundle(SigningKey.generate(), "330100", {}, 1, settings, now())
    with pytest.raises(ConfigRefused):
        manager.apply_document(forged)  # only the county's signature extends it
    bad = {"catalogue": {"products": [{**pepper, "category": "spices"}]}}
    with pytest.raises(ConfigRefused, match="catalogue"):
        manager.apply_document(make_config_bundle(COUNTY_KEY, "330100", {}, 1, bad, now()))
    applied = manager.apply_document(
        make_config_bundle(COUNTY_KEY, "330100", {}, 2, settings, now())
    )
    assert applied.status == "applied", applied.reason
    store.close()
    with open_kiosk(effective_config(config)) as kiosk:
        assert kiosk.catalogue.find("平昌青花椒").code == "B010"
        assert kiosk.catalogue.inputs["carbofuran"].banned
        outcome = kiosk.issuance.issue(request(product_code="B010", inputs_used=()))
        assert outcome.printed and outcome.certificate.product_name == "平昌青花椒"
        with pytest.raises(IssuanceRefused, match="克百威"):
            kiosk.issuance.issue(request(product_code="B010", inputs_used=("carbofuran",)))
