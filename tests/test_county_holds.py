"""County-wide holds without a broker: the signed list, what a kiosk refuses to apply
(attacks first), matching by every identifier, and the county's side of a hold."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from support.enforcement import county_url  # noqa: F401  (fixture)
from support.kiosk import request
from support.provisioning import COUNTY_KEY, now
from support.web import County

from kiosk.domain.model import Issuer
from kiosk.infra.audit import AuditLog
from kiosk.services.county_holds import CountyHolds, issuer_identifiers
from kiosk.services.issuance import IssuanceRefused
from station import holds as county
from station.web.store import transaction
from wire import events
from wire.holds import (
    CountyHold,
    Grade,
    HoldList,
    HoldListError,
    LiftedHold,
    Origin,
    parse_hold_list,
)
from wire.signing import SigningKey
from wire.trust import TrustList

PHONE = "13812345678"
ANCHORS = [COUNTY_KEY.public_bytes]


def hold_list(version: int, *holds: CountyHold, county_code: str = "330100") -> HoldList:
    return HoldList(county_code, version, now(), holds)


def a_hold(**overrides) -> CountyHold:
    values = {
        "hold_id": "H000001",
        "identifiers": (f"phone:{PHONE}",),
        "product_code": "V001",
        "reason": "快检确认阳性",
        "source": "kiosk_positive",
        "placed_at": now().isoformat(),
        "contact": "示范镇农产品质量安全监管站 0571-1234567",
    }
    values.update(overrides)
    return CountyHold(**values)


# ---- attacks on the document, written before the defence ------------------------------


def test_a_list_not_signed_by_the_county_is_refused() -> None:
    forged = hold_list(5, a_hold()).sign(SigningKey.generate())
    with pytest.raises(HoldListError, match="signature"):
        parse_hold_list(forged, ANCHORS, "330100")


def test_an_altered_list_is_refused() -> None:
    document = hold_list(5, a_hold()).sign(COUNTY_KEY)
    body = json.loads(document["body"])
    body["holds"] = []  # an attacker drops the hold
    document["body"] = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    with pytest.raises(HoldListError, match="signature"):
        parse_hold_list(document, ANCHORS, "330100")


def test_another_countys_list_and_another_document_type_are_refused() -> None:
    other = hold_list(5, a_hold(), county_code="330200").sign(COUNTY_KEY)
    with pytest.raises(HoldListError, match="county"):
        parse_hold_list(other, ANCHORS, "330100")
    trust = TrustList("330100", 9, now(), None).sign(COUNTY_KEY)  # signed, wrong kind
    with pytest.raises(HoldListError, match="not a hold list"):
        parse_hold_list(trust, ANCHORS, "330100")


def test_malformed_identifiers_are_refused() -> None:
    document = hold_list(5, a_hold(identifiers=("nickname:小张",))).sign(COUNTY_KEY)
    with pytest.raises(HoldListError, match="identifier"):
        parse_hold_list(document, ANCHORS, "330100")


def test_a_replayed_older_list_is_refused_and_audited(kiosk) -> None:
    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    assert applied.apply(parse_hold_list(hold_list(7).sign(COUNTY_KEY), ANCHORS, "330100"))
    old = parse_hold_list(hold_list(6, a_hold()).sign(COUNTY_KEY), ANCHORS, "330100")
    assert not applied.apply(old)
    assert applied.version() == 7 and applied.open_holds() == []
    assert kiosk.issuance.check(request())  # still issues
    (refusal,) = AuditLog(kiosk.store, now).entries(kind="county_holds.refused")
    assert "not newer than 7" in refusal.data["reason"]


# ---- matching on the kiosk --------------------------------------------------------------


def test_every_identifier_of_the_producer_matches(kiosk) -> None:
    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    registered = kiosk.producers.register("张秀英", PHONE, "示范村", "2468")
    kiosk.store.conn.execute(
        "UPDATE producers SET platform_code = 'ZT330100001' WHERE producer_id = ?",
        [registered.producer_id],
    )
    assert "platform_code:ZT330100001" in issuer_identifiers(kiosk.store, registered.issuer)
    by_code = a_hold(identifiers=("platform_code:ZT330100001",))
    applied.apply(parse_hold_list(hold_list(1, by_code).sign(COUNTY_KEY), ANCHORS, "330100"))
    # The card (producer id), the phone walk-in and the 主体码 all resolve to her.
    for issuer in (registered.issuer, Issuer("张秀英", PHONE)):
        with pytest.raises(IssuanceRefused) as refusal:
            kiosk.issuance.check(request(issuer=issuer))
        assert refusal.value.code == "county_hold" and "0571-1234567" in refusal.value.message
    assert kiosk.issuance.check(request(issuer=Issuer("李四", "13900000000")))
    assert kiosk.issuance.check(request(issuer=registered.issuer, product_code="V003"))
    # An ID number bound at this kiosk, and a new phone: a hold by ID number still
    # reaches her when she comes with the new phone (one producer, one identity).
    kiosk.producers.bind(registered.producer_id, phone="13600001111",
                         id_number="330102198001011234")  # fmt: skip
    by_id = a_hold(identifiers=("id_number:330102198001011234",))
    applied.apply(parse_hold_list(hold_list(2, by_id).sign(COUNTY_KEY), ANCHORS, "330100"))
    with pytest.raises(IssuanceRefused):
        kiosk.issuance.check(request(issuer=Issuer("张秀英", "13600001111")))
    every = a_hold(hold_id="H000002", identifiers=(f"phone:{PHONE}",), product_code="*")
    applied.apply(parse_hold_list(hold_list(3, every).sign(COUNTY_KEY), ANCHORS, "330100"))
    with pytest.raises(IssuanceRefused):
        kiosk.issuance.check(request(issuer=registered.issuer, product_code="V003"))


def test_a_lifted_hold_that_started_here_lifts_the_local_hold(kiosk) -> None:
    local = kiosk.holds.place(f"tel:{PHONE}", "V001", "快检确认阳性", "rapidtest:K001-T1")
    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    lifted = LiftedHold("H000001", now().isoformat(), "officer-1", Origin("K001", local.id))
    elsewhere = LiftedHold("H000002", now().isoformat(), "officer-1", Origin("K009", 1))
    applied.apply(HoldList("330100", 3, now(), (), (lifted, elsewhere)))
    assert kiosk.holds.active(f"tel:{PHONE}", "V001") is None
    row = kiosk.store.conn.execute("SELECT lifted_by FROM holds WHERE id = ?", [local.id])
    assert row.fetchone()[0] == "county:officer-1"


# ---- the county's side ------------------------------------------------------------------


def test_kiosk_holds_are_adopted_once_with_every_known_identifier(county_url) -> None:  # noqa: F811
    c = County(county_url)
    try:
        c.kiosk("K001")
        c.kiosk("K002")
        c.certificate("K001", 1)  # 张秀英 by phone at K001
        c.store("K002", events.certificate_issued(**_cert_fields("K002-P000003")))
        c.store("K001", events.hold_placed(hold_id=1, producer_key=f"tel:{PHONE}",
                                           product_code="V001", reason="快检确认阳性",
                                           source="rapidtest:K001-T1"))  # fmt: skip
        at = now()
        assert len(county.adopt_kiosk_holds(c.db, "330100", at)) == 1
        assert county.adopt_kiosk_holds(c.db, "330100", at) == []  # once
        (hold,) = county.open_holds(c.db, "330100")
        # Her phone, and the card id she printed with at K002 (same phone).
        assert set(hold.identifiers) >= {f"phone:{PHONE}", "producer_id:K002-P000003"}
        built = county.build_list(c.db, "330100", at)
        assert county.digest(built) == county.digest(county.build_list(c.db, "330100", at))
        with transaction(c.db):
            assert county.lift_hold(c.db, "330100", hold.hold_id, "officer-1", "复检合格", at)
            assert not county.lift_hold(c.db, "330100", hold.hold_id, "officer-1", "again", at)
        after = county.build_list(c.db, "330100", at + timedelta(seconds=1))
        assert after.holds == () and after.lifted[0].origin == Origin("K001", 1)
        assert county.digest(after) != county.digest(built)
        with pytest.raises(county.HoldError), transaction(c.db):
            county.place_hold(c.db, "330100", identifiers=[f"phone:{PHONE}"],
                              product_code="V001", reason=" ", source="officer",
                              placed_by="officer-1", now=at)  # fmt: skip
    finally:
        c.close()


def _cert_fields(producer_id: str) -> dict:
    return {
        "number": "330100-K002-0000001", "seq": 1, "issued_at": now(),
        "template_id": "t", "style": "style1", "product_code": "V001", "product_name": "青菜",
        "quantity": Decimal("10"), "unit": "公斤", "origin": "示范村", "issuer_name": "张秀英",
        "issuer_phone": PHONE, "producer_key": producer_id, "basis": "quality_control",
        "inputs_used": [], "test_ref": None, "source_certificate": None,
        "township": "示范镇", "service_point": "示范镇服务点",
    }  # fmt: skip


def test_staff_see_the_county_list_on_the_kiosk_cli(kiosk) -> None:
    import argparse
    import io

    from app.cli_reader import add_commands, run_command

    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    grade = Grade((f"phone:{PHONE}",), "red", "90天内快检确认阳性1次")
    applied.apply(HoldList("330100", 4, now(), (a_hold(),), (), (grade,)))
    parser = argparse.ArgumentParser(prog="kiosk")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    assert run_command(parser.parse_args(["holds", "county", "--json"]), kiosk, out) == 0
    shown = json.loads(out.getvalue())
    assert shown["version"] == 4 and shown["holds"][0]["identifiers"] == [f"phone:{PHONE}"]
    assert shown["grades"] == [{"grade": "red", "reason": "90天内快检确认阳性1次",
                                "identifiers": [f"phone:{PHONE}"]}]  # fmt: skip


def test_a_mixed_lot_is_traced_from_every_source(county_url) -> None:  # noqa: F811
    c = County(county_url)
    try:
        c.kiosk("K001")
        c.certificate("K001", 1, phone=PHONE)
        c.certificate("K001", 2, phone="13900000000", issuer="李四")
        fields = {**_cert_fields("K001-P000009"), "number": "330100-K001-0000003", "seq": 3,
                  "issuer_phone": "13700000000", "style": "style2",
                  "source_certificate": "330100-K001-0000001",
                  "sources": ["330100-K001-0000001", "330100-K001-0000002"]}  # fmt: skip
        c.store("K001", events.certificate_issued(**fields))
        rows = c.db.query("SELECT source_number FROM certificate_sources ORDER BY source_number")
        assert rows == [("330100-K001-0000001",), ("330100-K001-0000002",)]
        with transaction(c.db):  # a hold on 李四 traces the mixed lot that took his produce
            hold_id = county.place_hold(c.db, "330100", identifiers=["phone:13900000000"],
                                        product_code="V001", reason="抽检不合格",
                                        source="officer", placed_by="o", now=now())  # fmt: skip
        traced = c.db.query("SELECT number FROM trace_certificates WHERE hold_id = ? "
                            "ORDER BY number", [hold_id])  # fmt: skip
        assert traced == [("330100-K001-0000002",), ("330100-K001-0000003",)]
    finally:
        c.close()
