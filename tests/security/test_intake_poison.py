"""Issue 11 item 1: no message stops the county's intake, on SQLite and PostgreSQL.

Each attack is sent through a real Mosquitto to a real collector over a real store; the
collector must quarantine it with a reason, stay alive, and store the good event sent
after it. Before the fix, 30,000 nested brackets killed the writer (RecursionError),
seq = 2**63 looped "retrying" forever, NUL failed every PostgreSQL batch, and a retained
state with an out-of-range backlog wedged even a new collector with an empty store."""

from __future__ import annotations

import json

import pytest
from support.uplink import collector_settings, wait_until

from station.collector import Collector
from station.db import Database

from .intake_rig import STATE, T, envelope, good

DEEP = b"[" * 30_000 + b"]" * 30_000  # 60 KB: under the 64 KiB limit


def _json(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def _with_data(**data: object) -> bytes:
    return _json(envelope("certificate.voided", 9, **data))


POISON = {
    "deep_nesting": (T + "alarm", DEEP, "nested deeper"),
    "deep_nesting_in_data": (T + "alarm", b'{"id":"K001:3","data":' + b"[" * 20_000
                             + b"]" * 20_000 + b"}", "nested deeper"),
    "seq_2_63": (T + "alarm", _json({**envelope("alarm.cleared", 2), "seq": 2**63,
                                     "id": f"K001:{2**63}"}), "integer out of range"),
    "huge_integer": (T + "alarm", b'{"seq": ' + b"9" * 5000 + b"}", "integer out of range"),
    "float_overflow": (T + "rapidtest", _json(envelope("rapidtest.result", 4))
                       .replace(b'"value": 12.5', b'"value": 1e400'), "number out of range"),
    "nan": (T + "rapidtest", _json(envelope("rapidtest.result", 5))
            .replace(b'"value": 12.5', b'"value": NaN'), "not a JSON number"),
    "lone_surrogate": (T + "certificate", _with_data(reason="\ud800"),
                       "U+D800"),
    "nul_in_string": (T + "certificate", _with_data(reason="a\u0000b"), "U+0000"),
    "nul_in_key": (T + "alarm", b'{"id":"K001:6","\\u0000":1}', "forbidden character in key"),
    "esc_in_name": (T + "certificate", _json(envelope("certificate.issued", 7,
                                                      issuer_name="\u001b[2J")), "U+001B"),
    "bidi_override": (T + "certificate", _json(envelope("certificate.issued", 8,
                                                        issuer_name="abc\u202edef")), "pattern"),
    "overlong_string": (T + "certificate", _with_data(reason="x" * 5000),
                        "shorter than or equal to 1000"),
    "copies_out_of_range": (T + "certificate", _json(envelope("certificate.printed", 10,
                                                              copies=10**9)),
                            "smaller than or equal to 1000"),
}  # fmt: skip


@pytest.mark.parametrize("attack", sorted(POISON))
def test_poison_is_quarantined_and_intake_goes_on(attack, store_url, broker_factory, publisher):
    topic, payload, reason = POISON[attack]
    assert len(payload) <= 64 * 1024
    broker = broker_factory()
    with Collector(collector_settings(broker.port), store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send(topic, payload)
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().received >= 2, 15, "both messages")
        assert collector.healthy
        stats = collector.stats()
        assert (stats.quarantined, stats.stored) == (1, 1), stats
    with Database(store_url) as db:
        rows = db.query("SELECT reason, size FROM quarantine")
        assert len(rows) == 1 and reason in rows[0][0], rows
        assert rows[0][1] == len(payload)
        assert db.query("SELECT event_id FROM events") == [("K001:1",)]


def test_retained_state_out_of_range_does_not_wedge_a_new_collector(
    store_url, broker_factory, publisher
):
    broker = broker_factory()
    pub = publisher(broker.port)
    state = {"status": "online", "software_version": "1", "config_version": "1",
             "backlog": 2**63, "time": "2026-03-02T09:30:00+08:00"}  # fmt: skip
    pub.send(STATE, _json(state), retain=True)
    for seq in (1, 2):  # a brand-new collector, then a restarted one: both go on
        with Collector(collector_settings(broker.port), store_url) as collector:
            wait_until(lambda c=collector: c.stats().connected, 10, "collector connected")
            wait_until(lambda c=collector: c.stats().received >= 1, 10, "the retained state")
            assert collector.stats().quarantined == 1
            pub.send(T + "alarm", good(seq))
            wait_until(lambda c=collector: c.stats().stored >= 1, 10, "the good event")
            assert collector.healthy
    with Database(store_url) as db:
        assert db.query("SELECT count(*) FROM device_state") == [(0,)]
        reasons = [r[0] for r in db.query("SELECT reason FROM quarantine")]
        assert reasons and all("integer out of range" in r for r in reasons)
        assert db.count_events() == 2
