"""The producer registry: registration, card scans, phone + PIN, the county's roster."""

from __future__ import annotations

import json

import pytest
import zxingcpp
from support.kiosk import request

from drivers.fonts import find_cjk_font
from drivers.printer.render import render_label
from kiosk.domain.model import Issuer
from kiosk.domain.validation import InputError
from kiosk.services.producers import ProducerRegistry, load_villages
from kiosk.services.staff import LockedOut, hash_pin


def registry(kiosk) -> ProducerRegistry:
    return ProducerRegistry(kiosk.store, kiosk.clock, kiosk.config.device.device_id)


def test_register_then_find_by_card_phone_and_pin(kiosk) -> None:
    reg = registry(kiosk)
    p = reg.register(" 张秀英 ", "13812345678", "示范村", "2580")
    assert p.producer_id == "K001-P000001" and p.name == "张秀英" and p.has_pin
    assert reg.by_scan(p.card_code) == p and p.card_code.startswith("AQP2:")
    # the sequential id, on an old card or bare, identifies nobody (guessable)
    assert reg.by_scan(p.producer_id) is None and reg.by_scan(f"AQP1:{p.producer_id}") is None
    assert reg.by_scan("AQP1:NOBODY") is None and reg.by_scan("AQP2:") is None
    assert reg.login("13812345678", "2580") == p
    assert reg.login("13812345678", "0000") is None
    assert p.issuer.producer_key == p.producer_id
    # the certificate's issuer passes issuance's own checks
    kiosk.issuance.check(request(issuer=p.issuer))


@pytest.mark.parametrize(
    ("name", "phone", "village", "pin", "field"),
    [
        ("", "13812345678", "示范村", "2580", "name"),
        ("12345", "13812345678", "示范村", "2580", "name"),
        ("李四", "1381234", "示范村", "2580", "phone"),
        ("李四", "13812345679", "", "2580", "village"),
        ("李四", "13812345679", "示范村", "12", "pin"),
    ],
)
def test_bad_registration_names_the_field(kiosk, name, phone, village, pin, field) -> None:
    with pytest.raises(InputError) as error:
        registry(kiosk).register(name, phone, village, pin)
    assert error.value.field == field
    assert registry(kiosk).count() == 0


def test_a_phone_registers_once(kiosk) -> None:
    reg = registry(kiosk)
    reg.register("张秀英", "13812345678", "示范村", "2580")
    with pytest.raises(InputError, match="已经登记"):
        reg.register("张三", "13812345678", "东山村", "1111")


def test_phone_pin_guessing_locks_out(kiosk) -> None:
    reg = registry(kiosk)
    reg.register("张秀英", "13812345678", "示范村", "2580")
    for _ in range(reg.limiter.max_failures - 1):
        assert reg.login("13812345678", "9999") is None
    with pytest.raises(LockedOut):
        reg.login("13812345678", "9999")
    with pytest.raises(LockedOut):
        reg.login("13812345678", "2580")


def test_card_label_carries_a_scannable_qr(kiosk) -> None:
    reg = registry(kiosk)
    p = reg.register("王建国", "13900001111", "东山村", "1234")
    image = render_label(reg.card_document(p), find_cjk_font()).convert("L")
    codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [c.text for c in codes] == [p.card_code]


def test_roster_imported_once_per_version(kiosk) -> None:
    reg = registry(kiosk)
    path = kiosk.config.paths.data_dir / "producers" / "roster.json"
    path.parent.mkdir(parents=True)
    roster = {
        "version": 3,
        "producers": [
            {"id": "C-0001", "name": "赵大山", "phone": "13700000001", "village": "南岭村",
             "platform_code": "91330100MA0000001X", "pin_hash": hash_pin("4321")},
            {"id": "C-0002", "name": "钱小红", "phone": "13700000002",
             "id_number": "51190219800101001x"},
            {"id": "bad id!", "name": "孙", "phone": "13700000003"},
            {"id": "C-0004", "name": "周", "phone": "not a phone"},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(roster, ensure_ascii=False), "utf-8")
    assert reg.import_roster(path) == (2, 2)
    assert reg.import_roster(path) == (0, 0)  # same version: nothing to do
    assert reg.by_scan("91330100MA0000001X").name == "赵大山"  # national 主体码
    assert reg.login("13700000001", "4321").producer_id == "C-0001"
    assert not reg.get("C-0002").has_pin and reg.get("C-0002").source == "roster"
    assert reg.find("51190219800101001X").producer_id == "C-0002"  # by ID number
    roster = {"version": 4, "producers": [{"id": "C-0002", "name": "钱小红",
                                          "phone": "13700000009"}]}  # fmt: skip
    path.write_text(json.dumps(roster, ensure_ascii=False), "utf-8")
    assert reg.import_roster(path) == (1, 0)
    assert reg.get("C-0002").phone == "13700000009"
    assert reg.get("C-0002").id_number == "51190219800101001X"  # kept
    # the old phone stays bound: what was attached to it still names C-0002
    assert reg.resolve(Issuer("钱小红", "13700000002")).producer_id == "C-0002"


def test_demo_villages_load() -> None:
    names = [v.name for v in load_villages()]
    assert "示范村" in names and len(names) == len(set(names))
