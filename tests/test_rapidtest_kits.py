"""Kit lots on the simulated reader: expired or unknown lots refuse to start, every run
names its lot and tester, strip cut-offs and control-line rules come from the lot file,
and a β-agonist strip positive on a 生猪 sample ends in a hold."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from support.kiosk import request
from support.rapidtest import PRODUCER, ShiftClock, events, service
from support.reader import simulated_reader

from kiosk.domain.model import Basis
from kiosk.domain.rapidtest_kits import KitLotError, parse_lot_file, parse_scan
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.rapidtest import RapidTestError, SampleSlot

GBT = "GBT5009199"
CLB = "STRIP-CLB-LIVESTOCK"
PRODUCER_KEY = f"tel:{PRODUCER['phone']}"


@pytest.fixture
def reader(tmp_path):
    with simulated_reader(tmp_path / "reader") as r:
        yield r


def lot_file(lot: str, method: str, expires: date, strip: str = "") -> str:
    text = f'lot = "{lot}"\nmethod = "{method}"\nexpires = "{expires}"\nmaker = "某试剂厂"\n'
    return text + (f"[strip]\n{strip}\n" if strip else "")


def runs(kiosk) -> int:
    return kiosk.store.conn.execute("SELECT count(*) FROM rapid_runs").fetchone()[0]


def test_scanned_kit_codes_and_lot_files_are_read_or_refused() -> None:
    assert parse_scan("(01)06912345678901(17)270531(10)EZ2611A") == ("EZ2611A", date(2027, 5, 31))
    raw = "]C101069123456789011727050010EZ-26\x1d21X"
    assert parse_scan(raw) == ("EZ-26", date(2027, 5, 31))  # day 00: the month's end
    assert parse_scan(" EZ2611A ") == ("EZ2611A", None)  # typed
    with pytest.raises(KitLotError, match="有效期"):
        parse_scan("(17)271399(10)EZ1")
    with pytest.raises(KitLotError, match="批号"):
        parse_scan("EZ 26;DROP")
    with pytest.raises(KitLotError, match="有效期"):
        parse_lot_file('lot = "A1"\nmethod = "GBT5009199"\n')
    with pytest.raises(KitLotError, match="t_c_cutoff"):
        parse_lot_file(lot_file("A1", CLB, date(2027, 1, 1), "t_c_cutoff = 0"))
    with pytest.raises(KitLotError, match="未知项"):
        parse_lot_file(lot_file("A1", CLB, date(2027, 1, 1)) + "cutoff = 1\n")


def test_expired_or_unknown_lot_refuses_to_start_and_runs_name_lot_and_tester(
    kiosk, reader
) -> None:
    svc = service(kiosk, reader)
    today = kiosk.clock().date()
    svc.register_sample("S-1", product_code="V001", batch_quantity="200",
                        sampling_place="城关镇检测站", **PRODUCER)  # fmt: skip
    svc.add_kit_lot(lot_file("EZ-OLD", GBT, today - timedelta(days=1)))
    svc.add_kit_lot(lot_file("EZ-OK", GBT, today + timedelta(days=30)))
    with pytest.raises(RapidTestError, match=r"已于.*过期") as expired:
        svc.run_enzyme(GBT, [SampleSlot("S-1", 1)], kit_lot="EZ-OLD")
    assert expired.value.code == "expired_lot"
    with pytest.raises(RapidTestError, match="未在本站登记") as unknown:
        svc.run_enzyme(GBT, [SampleSlot("S-1", 1)], kit_lot="EZ-NOPE")
    assert unknown.value.code == "unknown_lot"
    soon = today - timedelta(days=2)  # the kit's own label says it expired: refused
    with pytest.raises(RapidTestError, match="过期"):
        svc.run_enzyme(GBT, [SampleSlot("S-1", 1)], kit_lot=f"(17){soon:%y%m%d}(10)EZ-OK")
    assert runs(kiosk) == 0  # nothing started

    scan = f"(01)06912345678901(17){today + timedelta(days=60):%y%m%d}(10)EZ-OK"
    (r,) = svc.run_enzyme(GBT, [SampleSlot("S-1", 1)], kit_lot=scan, tester="王技术员").results
    assert (r.kit_lot, r.tester) == ("EZ-OK", "王技术员")
    row = kiosk.store.conn.execute("SELECT kit_lot, kit_expires, tester FROM rapid_runs").fetchone()
    assert row == ("EZ-OK", (today + timedelta(days=30)).isoformat(), "王技术员")
    sample = svc.sample("S-1")
    assert sample.sampling_place == "城关镇检测站" and sample.sampled_at and sample.batch_quantity
    assert svc.result(r.test_id).kit_lot == "EZ-OK"


def test_strip_cutoffs_and_control_line_come_from_the_kit_lot(kiosk, reader) -> None:
    clock = ShiftClock(kiosk.clock)
    svc = service(kiosk, reader, clock=clock)
    svc.register_sample("P-1", product_code="L001", **PRODUCER)  # 生猪
    with pytest.raises(RapidTestError, match="须扫描或输入试剂盒批号"):
        svc.run_strip(CLB, "P-1", applied_at=clock() - timedelta(minutes=6))
    expires = clock().date() + timedelta(days=90)
    numbers = "t_c_cutoff = 0.7\nsuspicious_band = 0.05\nc_min_height = 400"
    svc.add_kit_lot(lot_file("CLB-7", CLB, expires, numbers))
    reader.controls.load_strip(ratio=0.6, c_line=0.4)  # a faint C line: the lot says invalid
    applied = clock() - timedelta(minutes=6)
    (faint,) = svc.run_strip(CLB, "P-1", applied_at=applied, kit_lot="CLB-7").results
    assert faint.verdict == "invalid" and "C线" in faint.reason and "400" in faint.reason
    reader.controls.load_strip(ratio=0.6)  # T/C about 0.56: negative by 0.5, positive by 0.7
    (pos,) = svc.run_strip(CLB, "P-1", applied_at=clock() - timedelta(minutes=6),
                           kit_lot="CLB-7").results  # fmt: skip
    assert pos.value < 0.7 and pos.reading == "positive" and pos.status == "retest_required"
    stored = kiosk.store.conn.execute(
        "SELECT method_json FROM rapid_runs WHERE run_key = ?", [pos.run_key]
    ).fetchone()[0]
    snapshot = json.loads(stored)
    assert snapshot["t_c_cutoff"] == 0.7 and snapshot["c_min_height"] == 400
    assert svc.recompute(pos.test_id).reading == "positive"  # with the lot's numbers


def test_beta_agonist_strip_positive_on_a_pig_sample_leads_to_a_hold(kiosk, reader) -> None:
    clock = ShiftClock(kiosk.clock)
    svc = service(kiosk, reader, clock=clock)
    kiosk.issuance.evidence = svc.evidence
    svc.register_sample("P-9", product_code="L001", inputs_used=[],
                        batch_quantity="12", batch_unit="头", **PRODUCER)  # fmt: skip
    svc.register_sample("C-9", product_code="L004", **PRODUCER)  # 肉鸡: not for these strips
    with pytest.raises(RapidTestError, match="不适用于肉鸡"):
        svc.run_strip(CLB, "C-9", kit_lot="CLB-1")
    svc.add_kit_lot(lot_file("CLB-1", CLB, clock().date() + timedelta(days=30)))
    reader.controls.load_strip(ratio=4.0)  # clenbuterol in the urine: T line nearly gone
    for _portion in (1, 2):
        outcome = svc.run_strip(CLB, "P-9", applied_at=clock() - timedelta(minutes=6),
                                kit_lot="CLB-1", tester="李站长")  # fmt: skip
    (confirmed,) = outcome.results
    assert (confirmed.verdict, confirmed.status, confirmed.portion) == ("positive", "confirmed", 2)
    hold = kiosk.holds.active(PRODUCER_KEY, "L001")
    assert hold is not None and outcome.holds == (hold,) and confirmed.test_id in hold.reason
    (referral,) = svc.referrals()
    assert "GB/T 22286-2008" in referral.lab_methods
    sent = events(kiosk)
    assert [e["schema"] for e in sent][-2:] == ["hold.placed", "alarm.raised"]
    result = [e["data"] for e in sent if e["schema"] == "rapidtest.result"][-1]
    # sample- and batch-level ids for the county's counts, and the lot
    assert (result["sample_id"], result["batch_id"], result["kit_lot"]) == (
        "P-9", "K001-P-9", "CLB-1",
    )  # fmt: skip
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(
            request(product_code="L001", unit="头", quantity="1", quarantine_cert="5100012345")
        )
    assert refused.value.code == "hold"


def test_a_panel_covers_its_class_only_when_every_strip_is_negative(kiosk, reader) -> None:
    """The cowpea panel: 噻虫胺, 噻虫嗪 and 啶虫脒 strips together stand for neonicotinoids."""
    clock = ShiftClock(kiosk.clock)
    svc = service(kiosk, reader, clock=clock)
    kiosk.issuance.evidence = svc.evidence
    svc.register_sample("D-5", product_code="V011", inputs_used=["neonicotinoid"],
                        batch_quantity="300", **PRODUCER)  # fmt: skip
    reader.controls.load_strip(ratio=0.0)
    strips = ("STRIP-CLO-COWPEA", "STRIP-TMX-COWPEA", "STRIP-ACE-COWPEA")
    for n, method in enumerate(strips, 1):
        svc.add_kit_lot(lot_file(f"L{n}", method, clock().date() + timedelta(days=9)))
        (r,) = svc.run_strip(method, "D-5", applied_at=clock() - timedelta(minutes=6),
                             kit_lot=f"L{n}").results  # fmt: skip
        assert r.verdict == "negative"
        based = request(product_code="V011", basis=Basis.SELF_TEST, test_ref=r.test_id,
                        inputs_used=("neonicotinoid",))  # fmt: skip
        if n < len(strips):
            with pytest.raises(IssuanceRefused, match="新烟碱"):
                kiosk.issuance.check(based)
    assert kiosk.issuance.check(based)  # every strip of the panel negative: covered
