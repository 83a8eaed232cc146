"""One wire contract: what the kiosk's services write to the outbox is exactly what the
county collector accepts, and an event that breaks its schema never enters the outbox."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from support.kiosk import request, row_counts
from support.rapidtest import PRODUCER, service
from support.reader import simulated_reader

from kiosk.services.kiosk import Kiosk
from kiosk.services.rapidtest import SampleSlot
from station.intake import parse_event
from wire import events
from wire.events import EventContractError, canonical_decimal, schema_book
from wire.topics import PREFIX, event_topic, parse_topic


def collector_view(kiosk: Kiosk) -> list[dict]:
    """Every outbox row through the collector's own parser (raises Rejected on any fault)."""
    rows = kiosk.store.conn.execute("SELECT kind, body FROM outbox ORDER BY seq").fetchall()
    out = []
    for kind, body in rows:
        topic = parse_topic(event_topic(PREFIX, "330100", "K001", kind), PREFIX)
        event = parse_event(schema_book(), topic, body.encode())
        out.append({"schema": event.schema, "data": event.data})
    return out


def test_issue_test_hold_lift_void_all_reach_the_county_as_written(kiosk: Kiosk, tmp_path) -> None:
    outcome = kiosk.issuance.issue(request(quantity=Decimal("1E+1")))  # a CLI user's "1E+1"
    kiosk.issuance.reprint(outcome.certificate.number)
    kiosk.issuance.void(outcome.certificate.number, "称重错误")
    with simulated_reader(tmp_path / "reader") as reader:
        svc = service(kiosk, reader)
        svc.register_sample("S-1", product_code="V001", inputs_used=["organophosphate"], **PRODUCER)
        reader.controls.load_enzyme_sample(1, inhibitor=2.0)
        for _ in range(3):  # GB/T 5009.199: the third positive portion confirms
            svc.run_enzyme("GBT5009199", [SampleSlot("S-1", 1)])
    (hold,) = kiosk.holds.open_holds()
    kiosk.holds.lift(hold.id, "county:inspector-7")

    seen = collector_view(kiosk)
    schemas = [e["schema"] for e in seen]
    assert schemas[:5] == [
        "certificate.issued", "certificate.printed",
        "certificate.reprinted", "certificate.printed", "certificate.voided",
    ]  # fmt: skip
    assert {"rapidtest.result", "hold.placed", "alarm.raised", "hold.lifted"} <= set(schemas)
    issued = seen[0]["data"]
    assert issued["quantity"] == "10"  # one canonical text, as printed on the label
    alarm = next(e for e in seen if e["schema"] == "alarm.raised")["data"]
    assert alarm["code"] == "rapidtest_positive"
    assert [a.code for a in kiosk.alarms.open()] == ["rapidtest_positive"]


@pytest.mark.parametrize(
    ("value", "text"),
    [("1E+1", "10"), ("10.0", "10"), ("12.50", "12.5"), ("0.001", "0.001"), ("2.5E-1", "0.25")],
)
def test_quantities_have_one_canonical_text(value: str, text: str) -> None:
    assert canonical_decimal(Decimal(value)) == text


def test_an_event_that_breaks_its_schema_is_refused_and_nothing_is_written(kiosk: Kiosk) -> None:
    before = row_counts(kiosk)
    with pytest.raises(EventContractError, match="code"):
        events.alarm_raised(code="no_such_alarm", severity="warning", message="x", detail={})
    with pytest.raises(EventContractError, match="copies"):
        events.certificate_printed(number="330100-K001-0000001", copies=0)
    with pytest.raises(EventContractError, match="quantity"):
        canonical_decimal(Decimal("NaN"))
    assert row_counts(kiosk) == before


def test_alarms_are_raised_once_and_cleared_once(kiosk: Kiosk) -> None:
    ledger = kiosk.alarms
    assert ledger.raise_("paper_out", "warning", "缺纸", {"certificate": "N1"})
    assert not ledger.raise_("paper_out", "warning", "缺纸")  # still open: no second event
    assert ledger.raise_("reader_fault", "warning", "读数仪断开", subject="/dev/ttyUSB0")
    assert [(a.code, a.subject) for a in ledger.open()] == [
        ("paper_out", ""), ("reader_fault", "/dev/ttyUSB0"),
    ]  # fmt: skip
    assert ledger.clear("paper_out") and not ledger.clear("paper_out")
    assert [a.code for a in ledger.open()] == ["reader_fault"]
    sent = [(e["schema"], e["data"]["code"]) for e in collector_view(kiosk)]
    assert sent == [
        ("alarm.raised", "paper_out"), ("alarm.raised", "reader_fault"),
        ("alarm.cleared", "paper_out"),
    ]  # fmt: skip
    body = json.loads(
        kiosk.store.conn.execute("SELECT body FROM outbox ORDER BY seq LIMIT 1").fetchone()[0]
    )
    assert body["data"]["detail"] == {"certificate": "N1"}


def test_a_successful_print_clears_the_printer_alarms(kiosk: Kiosk) -> None:
    device = kiosk.printer.simulated_device
    device.run_out_of_paper_after(0)  # runs out on the first label
    failed = kiosk.issuance.issue(request())
    assert failed.error is not None and kiosk.alarms.is_open("paper_out")
    device.load_paper()
    kiosk.issuance.reprint(failed.certificate.number)
    assert not kiosk.alarms.is_open("paper_out")
    assert [e["schema"] for e in collector_view(kiosk)][-1] == "alarm.cleared"
