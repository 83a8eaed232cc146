"""Lab referrals that close, on the simulated reader: the retained sample is confirmed by
the tester, the lab result closes the referral confirmed (hold stays) or cleared (hold
lifted, audited), and overdue referrals raise an alarm."""

from __future__ import annotations

import argparse
import io
import json
from datetime import date, timedelta

import pytest
from support.rapidtest import PRODUCER, ShiftClock, events, service
from support.reader import simulated_reader

from app.cli_reader import EXIT_OK, EXIT_REFUSED, add_commands, run_command
from kiosk.services.rapidtest import RapidTestError, SampleSlot

NYT = "NYT448"  # one further portion confirms
KEY = f"tel:{PRODUCER['phone']}"


@pytest.fixture
def reader(tmp_path):
    with simulated_reader(tmp_path / "reader") as r:
        yield r


def confirmed_positive(svc, reader, sample_id: str, product: str) -> int:
    svc.register_sample(sample_id, product_code=product, **PRODUCER)
    reader.controls.load_enzyme_sample(1, inhibitor=4.0)  # far above 70 %
    svc.run_enzyme(NYT, [SampleSlot(sample_id, 1)])
    outcome = svc.run_enzyme(NYT, [SampleSlot(sample_id, 1)])
    (referral,) = outcome.referrals
    return referral.id


def lab(svc, referral_id: int, value: str, limit: str = "0.02"):
    return svc.record_lab_result(
        referral_id, lab="县农产品质量检测中心", report_number="BZ2026-0417",
        substance="毒死蜱", value=value, limit=limit, unit="mg/kg",
        reported_on=svc.clock().date(), by="县执法大队 陈",
    )  # fmt: skip


def audit_kinds(kiosk) -> list[str]:
    rows = kiosk.store.conn.execute("SELECT kind FROM audit_log ORDER BY seq").fetchall()
    return [r[0] for r in rows]


def test_referral_closes_confirmed_and_the_hold_stays(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    ref = confirmed_positive(svc, reader, "S-1", "V001")
    assert not svc.referral(ref).sample_retained  # nobody said it was kept
    with pytest.raises(RapidTestError, match="留样尚未确认"):
        lab(svc, ref, "0.35")
    svc.confirm_retained(ref, "王技术员")
    closed = lab(svc, ref, "0.35")
    assert (closed.state, closed.outcome, closed.retained_by) == ("closed", "confirmed", "王技术员")
    assert (closed.measured_value, closed.limit_value, closed.report_number) == (
        "0.35", "0.02", "BZ2026-0417",
    )  # fmt: skip
    assert kiosk.holds.active(KEY, "V001") is not None  # the hold stays
    with pytest.raises(RapidTestError, match="已结案"):
        lab(svc, ref, "0")
    assert svc.referrals("open") == []


def test_referral_closes_cleared_lifts_the_hold_audited(kiosk, reader) -> None:
    svc = service(kiosk, reader)
    ref = confirmed_positive(svc, reader, "S-2", "V002")
    hold = kiosk.holds.active(KEY, "V002")
    assert hold is not None
    svc.confirm_retained(ref, "王技术员")
    closed = lab(svc, ref, "0.01")  # at or below the limit: the rapid positive was false
    assert closed.outcome == "cleared"
    assert kiosk.holds.active(KEY, "V002") is None
    lifted = [e for e in events(kiosk) if e["schema"] == "hold.lifted"]
    assert lifted and lifted[-1]["data"]["lifted_by"].startswith("lab:BZ2026-0417")
    kinds = audit_kinds(kiosk)
    assert kinds.index("referral.retained") < kinds.index("referral.closed")
    assert "hold.lifted" in kinds


def test_overdue_referrals_raise_an_alarm_cleared_by_the_result(kiosk, reader) -> None:
    clock = ShiftClock(kiosk.clock)
    svc = service(kiosk, reader, clock=clock)
    ref = confirmed_positive(svc, reader, "S-3", "V001")
    assert svc.raise_overdue_referrals() == []
    clock.shift = timedelta(days=8)
    assert svc.raise_overdue_referrals() == [ref]
    assert svc.raise_overdue_referrals() == [ref]  # still late, alarm raised once
    alarms = [a for a in kiosk.alarms.open() if a.code == "referral_overdue"]
    assert len(alarms) == 1
    svc.register_sample("S-33", product_code="V002", **PRODUCER)
    kiosk.alarms.clear("referral_overdue", subject=f"referral:{ref}")
    reader.controls.load_enzyme_sample(1, inhibitor=0.0)
    svc.run_enzyme(NYT, [SampleSlot("S-33", 1)])  # any run raises what is overdue
    assert [a.code for a in kiosk.alarms.open()].count("referral_overdue") == 1
    svc.confirm_retained(ref, "王技术员")
    lab(svc, ref, "0.5")
    assert not [a for a in kiosk.alarms.open() if a.code == "referral_overdue"]
    events(kiosk)  # alarm.raised / alarm.cleared validate with the new code


def test_referrals_from_the_cli(kiosk, tmp_path) -> None:
    with simulated_reader(tmp_path / "reader") as reader:
        kiosk.reader = reader
        kiosk.rapid_tests = svc = service(kiosk, reader)
        ref = confirmed_positive(svc, reader, "S-4", "V001")

        def cli(*argv: str) -> tuple[int, str]:
            parser = argparse.ArgumentParser(prog="kiosk")
            add_commands(parser.add_subparsers(dest="command", required=True))
            out = io.StringIO()
            return run_command(parser.parse_args(list(argv)), kiosk, out), out.getvalue()

        code, text = cli("referrals")
        assert code == EXIT_OK and "NOT CONFIRMED" in text
        result = ("referrals", "result", str(ref), "--lab", "县检测中心", "--report", "R-1",
                  "--substance", "氧乐果", "--value", "0", "--limit", "0.02",
                  "--date", date.today().isoformat(), "--by", "陈")  # fmt: skip
        assert cli(*result)[0] == EXIT_REFUSED  # retention not confirmed yet
        assert cli("referrals", "retained", str(ref), "--by", "王技术员")[0] == EXIT_OK
        code, text = cli(*result)
        assert code == EXIT_OK and "cleared" in text
        code, text = cli("referrals", "--state", "all", "--json")
        assert json.loads(text)[0]["outcome"] == "cleared"
        assert kiosk.holds.active(KEY, "V001") is None
