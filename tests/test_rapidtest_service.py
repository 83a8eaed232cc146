"""The rapid-test service against the simulated reader: positive → re-test → hold, etc."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support.kiosk import request
from support.rapidtest import PRODUCER, ShiftClock, events, service
from support.reader import simulated_reader

from kiosk.domain.model import Basis, Issuer
from kiosk.domain.rapidtest_methods import MethodBook
from kiosk.domain.validation import InputError
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.rapidtest import RapidTestError, ReaderFailure, SampleSlot

GBT = "GBT5009199"


@pytest.fixture
def reader(tmp_path):
    with simulated_reader(tmp_path / "reader") as r:
        yield r


def counts(kiosk, table: str) -> int:
    return kiosk.store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_positive_retest_confirms_holds_alarms_refers_and_blocks_issuance(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    kiosk.issuance.evidence = svc.evidence
    svc.register_sample("S-001", product_code="V001", inputs_used=["organophosphate"], **PRODUCER)
    svc.register_sample("S-002", product_code="V003", producer_name="李四", phone="13900000000")
    reader.controls.load_enzyme_sample(1, inhibitor=2.0)  # ~75 % inhibition
    reader.controls.load_enzyme_sample(2, inhibitor=0.0)
    ticks: list[tuple[str, float, float]] = []
    slots = [SampleSlot("S-001", 1), SampleSlot("S-002", 2)]
    first = svc.run_enzyme(GBT, slots, progress=lambda *a: ticks.append(a))
    s1, s2 = first.results
    assert (s1.verdict, s1.status, s1.portion) == ("suspicious", "retest_required", 1)
    assert s1.value > 50 and "另一份样" in s1.advice
    assert (s2.verdict, s2.status) == ("negative", "final")
    assert not first.holds and kiosk.holds.active(PRODUCER_KEY, "V001") is None
    assert ticks[-1] == ("measuring", 180.0, 180.0)

    # GB/T 5009.199: two further portions, each positive, before POSITIVE is final
    (again,) = svc.run_enzyme(GBT, [SampleSlot("S-001", 1)]).results  # portion chosen for us
    assert (again.verdict, again.status, again.portion) == ("suspicious", "retest_required", 2)
    assert "还需1份" in again.advice and not kiosk.holds.active(PRODUCER_KEY, "V001")
    second = svc.run_enzyme(GBT, [SampleSlot("S-001", 1)])
    (confirmed,) = second.results
    assert (confirmed.verdict, confirmed.status) == ("positive", "confirmed")
    assert confirmed.portion == 3 and confirmed.retest_of == s1.test_id
    hold = kiosk.holds.active(PRODUCER_KEY, "V001")
    assert hold is not None and second.holds == (hold,) and confirmed.test_id in hold.reason
    (referral,) = svc.referrals()
    assert referral.hold_id == hold.id and not referral.sample_retained  # not assumed
    assert "GB 23200.113-2018" in referral.lab_methods
    deadline = datetime.fromisoformat(referral.dispute_deadline)
    assert deadline - datetime.fromisoformat(confirmed.finished_at) == timedelta(hours=4)
    assert svc.case_state("S-001", GBT) == "confirmed"
    with pytest.raises(RapidTestError, match="已确认阳性"):
        svc.run_enzyme(GBT, [SampleSlot("S-001", 1)])

    sent = events(kiosk)  # every event validates against wire/schemas
    assert [e["schema"] for e in sent] == [
        "rapidtest.result", "rapidtest.result", "rapidtest.result", "rapidtest.result",
        "hold.placed", "alarm.raised",
    ]  # fmt: skip
    verdicts = [e["data"]["verdict"] for e in sent[:4]]
    assert verdicts == ["suspicious", "negative", "suspicious", "positive"]
    assert sent[3]["data"]["retest_of"] == s1.test_id
    assert sent[5]["data"]["code"] == "rapidtest_positive"
    assert sent[5]["data"]["severity"] == "critical"

    before = counts(kiosk, "certificates")
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request(product_code="V001"))
    assert refused.value.code == "hold" and "青菜" in refused.value.message
    assert counts(kiosk, "certificates") == before
    # another product of the same producer is not held
    kiosk.issuance.issue(request(product_code="V003"))


PRODUCER_KEY = f"tel:{PRODUCER['phone']}"


def test_invalid_runs_are_never_negative(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    svc.register_sample("S-010", product_code="V001", **PRODUCER)
    reader.controls.load_enzyme_sample(0, inhibitor=4.0)  # dead enzyme in the control
    (dead,) = svc.run_enzyme(GBT, [SampleSlot("S-010", 1)]).results
    assert dead.verdict == "invalid" and "对照" in dead.reason
    reader.controls.load_enzyme_sample(0, inhibitor=0.0)
    reader.controls.set_ambient(80.0)  # the block cannot hold 25 ± 2 °C
    (hot,) = svc.run_enzyme(GBT, [SampleSlot("S-010", 1)]).results
    assert hot.verdict == "invalid" and "温度" in hot.reason
    assert svc.case_state("S-010", GBT) == "invalid"
    assert [e["data"]["value"] for e in events(kiosk)] == [None, None]


def test_raw_data_recomputes_every_verdict_identically(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    for n in range(1, 4):
        svc.register_sample(f"S-02{n}", product_code="V002", **PRODUCER)
    for ch, level in ((1, 0.0), (2, 0.8), (3, 2.5)):
        reader.controls.load_enzyme_sample(ch, inhibitor=level)
    outcome = svc.run_enzyme(GBT, [SampleSlot(f"S-02{n}", n) for n in range(1, 4)])
    assert {r.reading for r in outcome.results} >= {"negative", "positive"}
    for r in outcome.results:
        again = svc.recompute(r.test_id)
        assert (again.reading, again.value) == (r.reading, r.value)
        assert svc.result(r.test_id) == r


def test_reset_mid_run_records_no_verdict(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    svc.register_sample("S-030", product_code="V001", **PRODUCER)
    reader.controls.reset_mid_run(0.5)
    with pytest.raises(ReaderFailure, match="没有结果"):
        svc.run_enzyme(GBT, [SampleSlot("S-030", 1)])
    assert counts(kiosk, "rapid_results") == 0 and counts(kiosk, "outbox") == 0
    state, error = kiosk.store.conn.execute("SELECT state, error FROM rapid_runs").fetchone()
    assert state == "failed" and "reboot" in error
    (ok,) = svc.run_enzyme(GBT, [SampleSlot("S-030", 1)]).results  # the reader recovered
    assert ok.verdict == "negative" and ok.portion == 1


def test_evidence_must_cover_what_was_used(kiosk, reader) -> None:
    clock = ShiftClock(kiosk.clock)
    svc = service(kiosk, reader, clock=clock)
    kiosk.issuance.evidence = svc.evidence
    svc.register_sample(
        "S-040", product_code="V001", inputs_used=["organophosphate"], batch_quantity="500",
        **PRODUCER,
    )  # fmt: skip
    (neg,) = svc.run_enzyme(GBT, [SampleSlot("S-040", 1)]).results
    assert neg.verdict == "negative"
    based = {"basis": Basis.SELF_TEST, "test_ref": neg.test_id}

    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request(inputs_used=("organophosphate", "pyrethroid"), **based))
    assert refused.value.code == "evidence"
    assert "拟除虫菊酯类农药" in refused.value.message and "有机磷" in refused.value.message
    other = request(issuer=Issuer("王五", "13700000000"), **based)
    with pytest.raises(IssuanceRefused, match="不是该生产者"):
        kiosk.issuance.issue(other)
    with pytest.raises(IssuanceRefused, match="没有检测编号"):
        kiosk.issuance.issue(request(basis=Basis.SELF_TEST, test_ref="K001-T999999"))
    assert svc.evidence(request(inputs_used=("organophosphate", "carbamate"), **based)) is None
    outcome = kiosk.issuance.issue(request(inputs_used=("organophosphate",), **based))
    assert outcome.printed and outcome.certificate.test_ref == neg.test_id
    assert outcome.certificate.sample_id == "S-040"

    clock.shift = timedelta(days=1)
    assert "不是今天抽样的" in svc.evidence(request(**based))


def test_enzyme_interference_products_are_flagged(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    svc.register_sample("S-050", product_code="V005", **PRODUCER)  # 韭菜
    assert "假阳性" in svc.advice_for(GBT, "V005") and svc.advice_for(GBT, "V001") is None
    reader.controls.load_enzyme_sample(1, inhibitor=1.5, pigment=0.3)
    (r,) = svc.run_enzyme(GBT, [SampleSlot("S-050", 1)]).results
    assert r.verdict == "suspicious" and r.detail["interference"] is True
    assert "整叶浸提" in r.advice


def test_strips_wait_for_the_read_window_and_need_a_c_line(kiosk, reader) -> None:
    clock = ShiftClock(kiosk.clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.shift += timedelta(seconds=seconds)

    svc = service(kiosk, reader, clock=clock, sleep=sleep)
    svc.register_sample("E-001", product_code="E001", inputs_used=[], **PRODUCER)
    ticks: list[tuple[str, float, float]] = []
    reader.controls.load_strip(ratio=4.0)
    (pos,) = svc.run_strip("STRIP-FIP-EGG", "E-001", progress=lambda *a: ticks.append(a)).results
    assert sum(slept) == pytest.approx(300, abs=1)  # 5 min after applying, not before
    assert ("waiting", 300.0, 300.0) in [(p, round(e), t) for p, e, t in ticks]
    assert pos.verdict == "suspicious" and pos.status == "retest_required" and pos.value < 0.5
    assert pos.channel == "strip" and pos.unit == "T/C"
    reader.controls.load_strip(ratio=0.0, c_line=0.0)
    applied = clock() - timedelta(minutes=6)
    (bad,) = svc.run_strip("STRIP-FIP-EGG", "E-001", applied_at=applied).results
    assert bad.verdict == "invalid" and "C线" in bad.reason
    assert svc.recompute(pos.test_id).value == pos.value
    events(kiosk)


def test_bad_input_is_refused_before_anything_is_written(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    with pytest.raises(InputError, match="样品编号"):
        svc.register_sample("S 1", product_code="V001", **PRODUCER)
    with pytest.raises(InputError, match="投入品"):
        svc.register_sample("S-1", product_code="V001", inputs_used=["ddt"], **PRODUCER)
    with pytest.raises(InputError, match="电话"):
        svc.register_sample("S-1", product_code="V001", producer_name="张", phone="123")
    svc.register_sample("S-1", product_code="V001", **PRODUCER)
    svc.register_sample("S-1", product_code="V001", **PRODUCER)  # same again: fine
    with pytest.raises(RapidTestError, match="另一产品"):
        svc.register_sample("S-1", product_code="V002", **PRODUCER)
    with pytest.raises(RapidTestError, match="不同的投入品"):  # the same producer: not "another"
        svc.register_sample("S-1", product_code="V001", inputs_used=["organophosphate"], **PRODUCER)
    with pytest.raises(RapidTestError, match="另一位生产者"):
        svc.register_sample("S-1", product_code="V001", producer_name="李四", phone="13900000000")
    svc.register_sample("E-1", product_code="E001", **PRODUCER)
    with pytest.raises(RapidTestError, match="不适用于"):
        svc.run_enzyme(GBT, [SampleSlot("E-1", 1)])  # the enzyme method is not for eggs
    with pytest.raises(RapidTestError, match="不同的通道"):
        svc.run_enzyme(GBT, [SampleSlot("S-1", 0)])
    with pytest.raises(RapidTestError, match="通道12不存在"):
        svc.run_enzyme(GBT, [SampleSlot("S-1", 12)])
    with pytest.raises(RapidTestError, match="尚未登记"):
        svc.run_enzyme(GBT, [SampleSlot("S-404", 1)])
    with pytest.raises(RapidTestError, match="unknown method"):
        svc.run_enzyme("NOPE", [SampleSlot("S-1", 1)])
    with pytest.raises(RapidTestError, match="没有配置"):
        service(kiosk, None).run_enzyme(GBT, [SampleSlot("S-1", 1)])
    assert counts(kiosk, "rapid_runs") == 0 and counts(kiosk, "outbox") == 0


def test_scope_per_standard_tea_and_nyt448_exclusions(kiosk, reader) -> None:
    """A tea sample is refused for GB/T 5009.199 and runs under GB/T 18625; NY/T 448
    refuses 韭菜; a product outside every installed method gets no 自行检测 evidence."""
    svc = service(kiosk, reader)
    kiosk.issuance.evidence = svc.evidence
    svc.register_sample("T-1", product_code="T001", batch_quantity="50", **PRODUCER)
    with pytest.raises(RapidTestError, match=r"GB/T 5009\.199-2003.*不适用于茶鲜叶") as refused:
        svc.run_enzyme(GBT, [SampleSlot("T-1", 1)])
    assert refused.value.code == "matrix"
    assert counts(kiosk, "rapid_runs") == 0  # refused before the reader is asked
    assert [s.sample_id for s in svc.waiting_samples(GBT)] == []
    assert [s.sample_id for s in svc.waiting_samples("GBT18625")] == ["T-1"]
    (tea,) = svc.run_enzyme("GBT18625", [SampleSlot("T-1", 1)]).results
    assert tea.verdict == "negative" and tea.method_id == "GBT18625"
    svc.register_sample("S-JC", product_code="V005", **PRODUCER)  # 韭菜
    with pytest.raises(RapidTestError, match="NY/T 448-2001的适用范围不包括韭菜"):
        svc.run_enzyme("NYT448", [SampleSlot("S-JC", 1)])
    assert svc.self_test_scope("V005") is None  # GB/T 5009.199 still covers it

    # A station without the tea method: tea cannot get 自行检测 evidence, and says why.
    only_veg = MethodBook([m for m in svc.methods.methods.values() if m.id != "GBT18625"])
    svc.methods = only_veg
    zh, en = svc.self_test_scope("T001")
    assert "没有适用于茶鲜叶的快检方法" in zh and "Fresh tea leaves" in en
    with pytest.raises(IssuanceRefused) as no_method:
        kiosk.issuance.check(
            request(product_code="T001", basis=Basis.SELF_TEST, test_ref=tea.test_id)
        )
    assert no_method.value.code == "evidence" and "委托检测" in no_method.value.message
    assert "laboratory" in no_method.value.text("en")


def test_suspicious_and_unconfirmed_samples_stay_in_the_run_list(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    svc.register_sample("S-070", product_code="V001", **PRODUCER)
    svc.register_sample("S-071", product_code="V002", **PRODUCER)
    reader.controls.load_enzyme_sample(1, inhibitor=2.0)  # positive
    reader.controls.load_enzyme_sample(2, inhibitor=0.0)  # negative
    svc.run_enzyme(GBT, [SampleSlot("S-070", 1), SampleSlot("S-071", 2)])
    assert [s.sample_id for s in svc.waiting_samples(GBT)] == ["S-070"]
    reader.controls.load_enzyme_sample(1, inhibitor=0.0)
    (neg,) = svc.run_enzyme(GBT, [SampleSlot("S-070", 1)]).results
    assert neg.status == "unresolved" and svc.waiting_samples(GBT)[0].sample_id == "S-070"
    history = svc.verdict_history("S-070", GBT)
    assert [(h.portion, h.reading, h.status) for h in history] == [
        (1, "positive", "retest_required"), (2, "negative", "unresolved"),
    ]  # fmt: skip
