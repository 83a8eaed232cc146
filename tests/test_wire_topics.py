"""wire/topics.py: one prefix everywhere, and what a kiosk publishes the collector accepts."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import (
    DEPLOY,
    SAMPLES,
    collector_settings,
    load_make_acl,
    open_kiosk,
    wait_until,
)

from kiosk.infra.uplink import Uplink, UplinkSettings
from station.collector import Collector
from wire import events
from wire.topics import EVENT_TOPICS, PREFIX, Topic, TopicError, parse_topic


def test_acl_generator_and_acl_base_use_the_wire_prefix() -> None:
    make_acl = load_make_acl()
    assert make_acl.PREFIX == PREFIX
    base = (DEPLOY / "acl.base").read_text("utf-8")
    assert f"pattern write {PREFIX}/%u/evt/#" in base
    rendered = make_acl.render_acl([], base, "test/v9")
    assert PREFIX not in rendered and "test/v9/%u/evt/#" in rendered


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/v1/330100/K001/state", "is not under 'agriqs/v1'"),
        (f"{PREFIX}/330100/K001/cfg", "neither .../evt/<kind> nor .../state"),
        (f"{PREFIX}/330100/K001/evt/alarm/extra", "neither"),
        (f"{PREFIX}/330100/state", "neither"),
    ],
)
def test_parse_topic_says_why_it_refuses(topic: str, reason: str) -> None:
    with pytest.raises(TopicError, match="topic") as refused:
        parse_topic(topic, PREFIX)
    assert reason in str(refused.value)


def test_every_topic_a_kiosk_publishes_is_accepted_by_the_collector(tmp_path, broker_factory):  # noqa: F811
    """One event of each kind through a real uplink; a ``#`` listener records every topic."""
    broker = broker_factory()
    seen: list[str] = []
    subscribed = threading.Event()
    spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="spy", protocol=mqtt.MQTTv5)
    spy.on_connect = lambda c, *_a: c.subscribe(f"{PREFIX}/#", qos=1)
    spy.on_subscribe = lambda *_a: subscribed.set()
    spy.on_message = lambda _c, _u, m: seen.append(m.topic)
    spy.connect("127.0.0.1", broker.port)
    spy.loop_start()
    assert subscribed.wait(5)

    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    schemas = {kind: schema for schema, (kind, _) in reversed(SAMPLES.items())}
    assert set(schemas) == set(EVENT_TOPICS), "every event kind needs a sample event"
    with store.transaction():
        for schema in schemas.values():
            outbox.enqueue(events.build(schema, SAMPLES[schema][1]))
    settings = UplinkSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.1)
    try:
        with (
            Collector(collector_settings(broker.port), tmp_path / "station.db") as collector,
            Uplink(settings, tmp_path / "kiosk.db", "330100", "K001") as uplink,
        ):
            assert uplink.wait_drained(10), uplink.stats()
            wait_until(lambda: collector.stats().stored == len(EVENT_TOPICS), 5, "events stored")
            wait_until(lambda: collector.stats().states >= 1, 5, "birth stored")
        wait_until(lambda: len(seen) >= len(EVENT_TOPICS) + 3, 5, "birth, events, offline")
    finally:
        spy.disconnect()
        spy.loop_stop()
        store.close()
    # The collector's own retained claim (which store it writes to) is county-side.
    kiosk_topics = [t for t in seen if not t.startswith(f"{PREFIX}/_collectors/")]
    parsed = {parse_topic(topic, PREFIX) for topic in kiosk_topics}
    assert parsed == {Topic("330100", "K001", kind) for kind in [*EVENT_TOPICS, None]}
    stats = collector.stats()
    assert stats.quarantined == 0, stats.reasons
