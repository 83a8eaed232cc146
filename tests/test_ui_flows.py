"""The touch UI driven end to end with synthetic touches under SDL_VIDEODRIVER=dummy."""

from __future__ import annotations

import pytest
import zxingcpp
from support.kiosk import ARTIFACTS, request
from support.printer_decode import tspl_texts

from app.compose import hardware_desk
from kiosk.domain.model import CertificateStatus
from ui.loop import App
from ui.screens.common import MessageScreen
from ui.screens.farmer import ConfirmScreen, DoneScreen, PrintScreen, QuantityScreen, WelcomeScreen
from ui.screens.register import CardDoneScreen
from ui.testing import Driver

SHOTS = ARTIFACTS / "screens" / "flows"


@pytest.fixture
def ui(kiosk):
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=True)
    yield Driver(app)
    app.close()


@pytest.fixture
def farmer(ui):
    return ui.app.producers.register("张秀英", "13812345678", "示范村", "2580")


def issue_vegetable(ui: Driver) -> None:
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")
    assert ui.on(QuantityScreen)
    ui.type_digits("12")
    ui.tap("key_.")
    ui.type_digits("5")
    ui.tap("ok")
    words = " ".join(ui.texts())
    # Asked in the names on the bottles a farmer buys, the class after them.
    assert "敌敌畏" in words and "有机磷" in words and "有机磷类农药" not in words
    ui.tap("input_organophosphate")
    ui.tap("inputs_done")
    assert ui.on(ConfirmScreen)


def test_scan_card_to_printed_label_and_record(ui, farmer, kiosk) -> None:
    assert ui.app.audio.played == []  # a quiet start; the welcome plays when someone comes back
    ui.scan(farmer.card_code)
    assert ui.on(WelcomeScreen) and "张秀英，您好" in ui.texts()
    issue_vegetable(ui)
    assert "我承诺对销售的食用农产品" in " ".join(ui.texts())
    ui.screenshot(SHOTS / "confirm.png")
    ui.tap("more_copies")
    ui.tap("print")
    ui.until(lambda: ui.on(DoneScreen))
    assert "请取走标签" in ui.texts()
    ui.screenshot(SHOTS / "done.png")
    (cert,) = kiosk.issuance.list()
    assert cert.status is CertificateStatus.PRINTED and cert.print_count == 2
    assert (cert.product_code, str(cert.quantity), cert.unit) == ("V001", "12.5", "公斤")
    assert cert.issuer.producer_id == farmer.producer_id and cert.origin == "示范镇示范村"
    assert cert.inputs_used == ("organophosphate",)
    data = bytes(kiosk.printer.simulated_device.received)
    assert any(cert.number in t for t in tspl_texts(data))
    # the QR as printed decodes to the certificate's own QR text
    label = kiosk.printer.simulated_device.labels[-1].image.convert("L")
    assert kiosk.printer.simulated_device.label_count == 2
    decoded = [c.text for c in zxingcpp.read_barcodes(label, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert decoded == [cert.qr_text]
    for prompt in ("confirm", "commitment", "printing", "take_labels"):
        assert prompt in ui.app.audio.played


def test_phone_and_pin_then_repeat_last_in_three_taps(ui, farmer, kiosk) -> None:
    kiosk.issuance.issue(request(issuer=farmer.issuer, inputs_used=()))
    ui.tap("phone")
    ui.type_digits("13812345678")
    ui.tap("ok")
    ui.type_digits("0000")
    ui.tap("ok")
    assert "密码不对" in " ".join(ui.texts())
    ui.type_digits("2580")
    ui.tap("ok")
    assert ui.on(WelcomeScreen)
    taps = ui.taps
    ui.tap("repeat")
    ui.tap("print")
    ui.until(lambda: ui.on(DoneScreen))
    assert ui.taps - taps <= 3
    first, second = kiosk.issuance.list(limit=2)[::-1]
    assert first.number != second.number
    assert (second.product_code, second.quantity, second.unit) == (
        first.product_code,
        first.quantity,
        first.unit,
    )


def test_hold_is_refused_in_plain_words(ui, farmer, kiosk) -> None:
    kiosk.holds.place(farmer.producer_id, "V001", "快检阳性 K001-T000001", "test")
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")
    assert ui.on(MessageScreen)
    words = " ".join(ui.texts())
    assert "暂停开证" in words and "请联系乡镇监管站" in words
    ui.screenshot(SHOTS / "hold.png")
    ui.tap("home")
    assert ui.app.session.producer is None
    assert kiosk.issuance.list() == []


def test_paper_out_mid_print_is_shown_and_recovered(ui, farmer, kiosk) -> None:
    device = kiosk.printer.simulated_device
    device.run_out_of_paper_after(1)
    ui.scan(farmer.card_code)
    issue_vegetable(ui)
    ui.tap("more_copies")
    ui.tap("more_copies")
    ui.tap("print")
    ui.until(lambda: ui.app.find("continue") is not None)
    assert "标签纸用完了，已打印1张" in " ".join(ui.texts())
    ui.screenshot(SHOTS / "paper_out.png")
    device.load_paper()
    ui.tap("continue")
    ui.until(lambda: ui.on(DoneScreen))
    (cert,) = kiosk.issuance.list()
    assert cert.status is CertificateStatus.PRINTED and cert.print_count == 3
    assert device.label_count == 3
    assert "补打：★" in tspl_texts(bytes(device.received))


def test_registration_prints_a_card_that_identifies_next_time(ui, kiosk) -> None:
    """Pinyin, the second way to enter a name (handwriting: test_ui_session.py)."""
    ui.tap("register")
    ui.tap("use_pinyin")
    for letter in "WANG":
        ui.tap(f"letter_{letter}")
    ui.tap("char_王")
    for letter in "FANG":
        ui.tap(f"letter_{letter}")
    ui.tap("char_芳")
    ui.tap("ok")
    ui.type_digits("13900001111")  # eleven digits: the pad goes on by itself
    ui.type_digits("1357")
    ui.tap("ok")
    ui.type_digits("1357")
    ui.tap("ok")
    ui.tap("village_330100001002")
    ui.until(lambda: ui.on(CardDoneScreen))
    (producer,) = ui.app.producers.by_phone("13900001111")
    assert (producer.name, producer.village) == ("王芳", "东山村")
    card = kiosk.printer.simulated_device.labels[-1].image.convert("L")
    codes = [c.text for c in zxingcpp.read_barcodes(card, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert codes == [producer.card_code]
    ui.tap("home")
    ui.scan(producer.card_code)
    assert ui.on(WelcomeScreen)


def test_unknown_card_and_stray_scans_are_safe(ui, farmer) -> None:
    ui.scan("AQP1:NOBODY")
    assert ui.on(MessageScreen) and "不认识" in " ".join(ui.texts())
    ui.tap("home")
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")
    before = [type(s) for s in ui.app.stack]
    ui.scan("6901234567892")  # a product barcode, with no screen waiting for a scan
    assert [type(s) for s in ui.app.stack] == before
    assert ui.app.session.producer == farmer


def test_idle_timeout_clears_the_session(ui, farmer, monkeypatch) -> None:
    ui.scan(farmer.card_code)
    ui.tap("new")
    monkeypatch.setattr(ui.app, "_last_input", 0.0)
    ui.settle()
    assert len(ui.app.stack) == 1 and ui.app.session.producer is None


def test_english_is_selectable(ui, farmer) -> None:
    ui.tap("language")
    ui.scan(farmer.card_code)
    assert "Hello, 张秀英" in ui.texts()
    ui.tap("new")
    assert "What are you selling?" in ui.texts()


def test_search_by_pinyin_initials(ui, farmer) -> None:
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.tap("search")
    ui.tap("letter_Q")
    ui.tap("letter_C")
    ui.tap("product_V001")
    assert ui.on(QuantityScreen)


def test_printscreen_cannot_be_left_while_printing(ui, farmer) -> None:
    ui.scan(farmer.card_code)
    issue_vegetable(ui)
    ui.app.render()
    screen = PrintScreen(ui.app, lambda progress: None, 1)
    assert screen.busy and not screen.show_home and not screen.show_back
