"""Bad messages land in quarantine with their reason; the collector keeps running."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import collector_settings, fixed_clock, sample, wait_until

from station.collector import Collector
from station.db import Database
from station.intake import MAX_PAYLOAD_BYTES

T = "agriqs/v1/330100/K001/evt/"
OTHER_DEVICE = {"device": "K002", "id": "K002:6"}


def envelope(schema: str, seq: int, over: dict | None = None) -> dict:
    _, data = sample(schema, seq)
    doc = {"id": f"K001:{seq}", "schema": schema, "version": 1, "envelope": 1,
           "county": "330100", "device": "K001", "seq": seq,
           "time": fixed_clock().isoformat(), "data": data}  # fmt: skip
    doc.update(over or {})
    return doc


def test_bad_messages_are_quarantined_with_reasons(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory()
    db_path = tmp_path / "station.db"
    bad_data = envelope("certificate.issued", 3)
    bad_data["data"]["basis"] = "trust_me"
    cases = [
        (T + "certificate", b"{not json", "malformed JSON"),
        (T + "certificate", b"\xff\xfe", "not UTF-8"),
        (T + "alarm", b"x" * (MAX_PAYLOAD_BYTES + 1), "oversized"),
        (T + "certificate", json.dumps(bad_data).encode(), "data of certificate.issued invalid"),
        (T + "alarm", json.dumps(envelope("alarm.cleared", 4, {"schema": "alarm.gone"})).encode(),
         "unknown schema"),
        (T + "certificate", json.dumps(envelope("alarm.cleared", 5)).encode(),
         "belongs on evt/alarm"),
        (T + "alarm", json.dumps(envelope("alarm.cleared", 6, OTHER_DEVICE)).encode(),
         "envelope speaks for 330100/K002"),
        (T + "alarm", json.dumps(envelope("alarm.cleared", 7, {"id": "K001:8"})).encode(),
         "does not match"),
        (T + "alarm", json.dumps({"id": "K001:9"}).encode(), "envelope invalid"),
        ("agriqs/v1/330100/K001/state", b'{"status": "sleepy"}', "state invalid"),
    ]  # fmt: skip
    good = json.dumps(envelope("alarm.cleared", 1)).encode()
    with Collector(collector_settings(broker.port), db_path) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            for topic, payload, _ in cases:
                pub.publish(topic, payload, qos=1).wait_for_publish(5)
            pub.publish(T + "alarm", good, qos=1).wait_for_publish(5)
        finally:
            pub.disconnect()
            pub.loop_stop()
        wait_until(lambda: collector.stats().received >= len(cases) + 1, 10, "all messages")
        assert collector.healthy
        stats = collector.stats()
        assert stats.quarantined == len(cases)
        assert stats.stored == 1
    with Database(db_path) as db:
        rows = db.query("SELECT topic, reason, size FROM quarantine ORDER BY id")
        assert len(rows) == len(cases)
        for (topic, payload, expected), (q_topic, reason, size) in zip(cases, rows, strict=True):
            assert q_topic == topic
            assert expected in reason, (expected, reason)
            assert size == len(payload)
        assert db.query("SELECT event_id FROM events") == [("K001:1",)]
