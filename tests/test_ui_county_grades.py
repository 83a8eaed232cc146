"""The touch screen under the county's list: a county-wide hold and a 失信 record stop the
farmer at the product, in plain words; a red grade takes 质量安全控制符合要求 away, so a
producer without a test today is told to test first, and nothing is issued."""

from __future__ import annotations

import pytest
from support.kiosk import ARTIFACTS
from support.provisioning import now

from app.compose import hardware_desk
from kiosk.infra.audit import AuditLog
from kiosk.services.county_holds import CountyHolds
from ui.loop import App
from ui.screens.common import MessageScreen
from ui.screens.farmer import QuantityScreen
from ui.testing import Driver
from wire.holds import CountyHold, Grade, HoldList

SHOTS = ARTIFACTS / "screens" / "flows"
PHONE = "13812345678"


@pytest.fixture
def ui(kiosk):
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=True)
    yield Driver(app)
    app.close()


@pytest.fixture
def farmer(ui):
    return ui.app.producers.register("张秀英", PHONE, "示范村", "2580")


def county_list(kiosk, version: int, *, holds=(), grades=()) -> None:
    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    assert applied.apply(HoldList("330100", version, now(), tuple(holds), (), tuple(grades)))


def to_product(ui, farmer) -> None:
    ui.scan(farmer.card_code)
    ui.tap("new")
    ui.tap("category_vegetable")
    ui.tap("product_V001")


def test_a_county_hold_by_phone_stops_the_card_at_the_product(ui, farmer, kiosk) -> None:
    hold = CountyHold("H000001", (f"phone:{PHONE}",), "V001", "监督抽检不合格", "official_sample",
                      now().isoformat(), "县农业执法大队 0571-7654321")  # fmt: skip
    county_list(kiosk, 1, holds=[hold])
    to_product(ui, farmer)
    assert ui.on(MessageScreen)
    words = " ".join(ui.texts())
    assert "县里暂停开证" in words and "0571-7654321" in words
    ui.screenshot(SHOTS / "county-hold.png")
    assert kiosk.issuance.list() == []


def test_untrusted_is_refused_before_anything_is_typed(ui, farmer, kiosk) -> None:
    county_list(kiosk, 1, grades=[Grade((f"phone:{PHONE}",), "untrusted", "伪造合格证")])
    to_product(ui, farmer)
    assert ui.on(MessageScreen) and "失信名单" in " ".join(ui.texts())


def test_red_grade_without_a_test_today_is_told_to_test(ui, farmer, kiosk) -> None:
    county_list(kiosk, 1, grades=[Grade((f"phone:{PHONE}",), "red", "90天内快检确认阳性1次")])
    to_product(ui, farmer)
    assert ui.on(QuantityScreen)  # red does not stop her at the product: a test may follow
    ui.type_digits("12")
    ui.tap("ok")
    ui.tap("input_organophosphate")
    ui.tap("inputs_done")
    assert ui.on(MessageScreen)
    words = " ".join(ui.texts())
    assert "红色" in words and "当天自行检测或委托检测" in words
    ui.screenshot(SHOTS / "red-grade.png")
    assert kiosk.issuance.list() == []


def test_a_notice_reaches_the_kiosks_concerned_and_staff_see_it(ui, kiosk, tmp_path) -> None:
    """A notice made on the dashboard travels in the signed list to the kiosks that
    printed its certificates; the staff's holds screen shows it with the county holds."""
    from support.provisioning import COUNTY_KEY
    from support.web import County

    from station import holds as station_holds
    from station.web.enforcement import _make_notice
    from station.web.store import transaction
    from ui.screens.staff import HoldsScreen
    from wire.holds import parse_hold_list

    c = County(str(tmp_path / "county.db"))
    try:
        c.kiosk("K001")
        c.kiosk("K002")
        c.certificate("K001", 1, phone=PHONE)
        with transaction(c.db):
            hold_id = station_holds.place_hold(
                c.db, "330100", identifiers=[f"phone:{PHONE}"], product_code="V001",
                reason="监督抽检不合格：毒死蜱", source="officer", placed_by="officer-1",
                now=now(),
            )  # fmt: skip
        number = _make_notice(c.db, "330100", hold_id, "officer-1", now())
        built = station_holds.build_list(c.db, "330100", now(), version=1)
    finally:
        c.close()
    (notice,) = built.notices
    assert notice.devices == ("K001",) and "涉及合格证1张" in notice.text
    document = parse_hold_list(built.sign(COUNTY_KEY), [COUNTY_KEY.public_bytes], "330100")
    for device, expected in (("K002", 0), ("K001", 1)):
        applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, device, kiosk.holds)
        version = HoldList("330100", applied.version() + 1, now(), document.holds, (),
                           (), document.notices)  # fmt: skip
        applied.apply(version)
        shown = kiosk.store.conn.execute("SELECT count(*) FROM county_notices").fetchone()[0]
        assert shown == expected
    ui.app.push(HoldsScreen(ui.app))
    words = " ".join(ui.texts())
    assert f"第{number[5:]}号" in words and "全县暂停 H000001" in words
    ui.screenshot(SHOTS / "staff-county-notice.png")
