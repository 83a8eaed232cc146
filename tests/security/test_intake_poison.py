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


def _unbounded(schema: dict, where: str) -> list[str]:
    """Paths of integers without both bounds and strings without a length bound and a
    character rule (a pattern, an enum or a const)."""
    found: list[str] = []
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    numeric = "integer" in types or "number" in types
    if numeric and ("minimum" not in schema or "maximum" not in schema):
        found.append(where)
    text = "string" in types and not ({"enum", "const"} & set(schema))
    if text and ("maxLength" not in schema or "pattern" not in schema):
        found.append(where)
    if "array" in types and "maxItems" not in schema:
        found.append(where)
    for name, sub in schema.get("properties", {}).items():
        found += _unbounded(sub, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _unbounded(schema[key], f"{where}[{key}]")
    for sub in schema.get("anyOf", []):
        found += _unbounded(sub, where)
    if "object" in types and schema.get("additionalProperties") is not False:
        if where.endswith(".data") and where.startswith("envelope"):
            pass  # the envelope's data is checked against its own schema
        elif "maxProperties" not in schema:
            found.append(where)
    return found


def test_every_schema_bounds_every_integer_and_string():
    from wire.events import schema_documents

    unbounded = [p for name, doc in schema_documents().items() for p in _unbounded(doc, name)]
    assert unbounded == []


def test_a_qos0_flood_is_cut_at_the_queue_while_the_store_is_busy(
    tmp_path, broker_factory, publisher
):
    import sqlite3
    import time

    broker = broker_factory()
    url = tmp_path / "station.db"
    Database(url).close()
    settings = collector_settings(broker.port, qos0_queue_max=50)
    with Collector(settings, url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        blocker = sqlite3.connect(url, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the writer now waits on the store
        pub = publisher(broker.port)
        pub.send(T + "alarm", b"first, to occupy the writer", qos=1)
        time.sleep(0.3)
        for n in range(3000):
            pub.client.publish(T + "alarm", b"junk %d" % n, qos=0)
        wait_until(lambda: collector.stats().dropped >= 2000, 20, "QoS 0 past the bound dropped")
        assert collector._queue.qsize() <= 50 + 1  # never more than the bound (+ the first)
        blocker.execute("ROLLBACK")
        blocker.close()
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().stored == 1, 30, "the good event after the flood")
        stats = collector.stats()
        assert collector.healthy and stats.received == 3002, stats
