"""Outbox bookkeeping (states, purge, backlog alarm) and the uplink's idle cost."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import collector_settings, enqueue_many, open_kiosk, wait_until

from kiosk.infra.alarms import Alarms
from kiosk.infra.uplink import BACKLOG_CLEAR_RATIO, Uplink, UplinkSettings, check_backlog
from station.collector import Collector
from wire import events


def alarms(outbox) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = outbox.store.conn.execute(
        "SELECT schema, body FROM outbox WHERE schema LIKE 'alarm.%' ORDER BY seq"
    ).fetchall()
    codes = [(schema, json.loads(body)["data"]["code"]) for schema, body in rows]
    return [c for c in codes if c[1] == "backlog"]


def test_states_paging_and_purge(tmp_path):
    store, outbox = open_kiosk(tmp_path / "k.db")
    enqueue_many(store, outbox, 30)
    first = outbox.page(0, 10)
    assert [r.seq for r in first] == list(range(1, 11))
    outbox.mark_sent([r.seq for r in first])
    assert outbox.page(0, 1)[0].state == "sent"
    assert outbox.mark_acked([r.seq for r in first]) == 10
    assert outbox.mark_acked([1]) == 0  # already acked: not counted twice
    assert outbox.backlog() == 20
    assert outbox.page(0, 5)[0].seq == 11
    assert outbox.purge_acked(datetime.now(UTC) - timedelta(days=1)) == 0  # too recent
    assert outbox.purge_acked(datetime.now(UTC) + timedelta(seconds=1)) == 10
    assert outbox.backlog() == 20
    with store.transaction():  # seq keeps counting after a purge: ids are never reused
        assert outbox.enqueue(events.alarm_cleared(code="paper_out")) == "K001:31"
    store.close()


def test_backlog_alarm_once_per_crossing(tmp_path):
    store, outbox = open_kiosk(tmp_path / "k.db")
    ledger = Alarms(store, outbox, outbox.clock)
    threshold = 20
    enqueue_many(store, outbox, threshold)
    assert not check_backlog(ledger, outbox.backlog(), threshold)  # at, not above
    enqueue_many(store, outbox, 1)
    assert check_backlog(ledger, outbox.backlog(), threshold)
    enqueue_many(store, outbox, 10)
    assert not check_backlog(ledger, outbox.backlog(), threshold)  # still above: no repeat
    assert alarms(outbox) == [("alarm.raised", "backlog")]
    assert [a.code for a in ledger.open()] == ["backlog"]
    seqs = [r.seq for r in outbox.page(0, 1000)]
    keep = int(threshold * BACKLOG_CLEAR_RATIO)
    outbox.mark_acked(seqs[: len(seqs) - keep - 1])
    assert not check_backlog(ledger, outbox.backlog(), threshold)  # hysteresis: not yet low
    outbox.mark_acked(seqs[: len(seqs) - keep])
    assert check_backlog(ledger, outbox.backlog(), threshold)
    assert alarms(outbox)[-1] == ("alarm.cleared", "backlog")
    assert ledger.open() == [] and [a.code for a in ledger.history()] == ["backlog"]
    store.close()


def test_idle_uplink_costs_no_cpu_and_wakes_at_once(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory()
    store, outbox = open_kiosk(tmp_path / "k.db")
    settings = UplinkSettings(host="127.0.0.1", port=broker.port, poll_interval_s=5.0)
    collector = Collector(collector_settings(broker.port), tmp_path / "station.db")
    with collector, Uplink(settings, tmp_path / "k.db", "330100", "K001") as uplink:
        outbox.add_listener(uplink.wake)
        wait_until(lambda: uplink.stats().connected, 5, "connected")
        assert uplink.wait_drained(5)
        time.sleep(0.6)  # past the hot window
        cpu = time.process_time()
        time.sleep(1.0)
        assert time.process_time() - cpu < 0.05, "idle uplink (and collector) should sleep"
        start = time.monotonic()
        enqueue_many(store, outbox, 1)
        wait_until(lambda: collector.stats().stored >= 1, 2, "prompt send")
        assert time.monotonic() - start < 1.0  # far below the 5 s poll
    store.close()
