"""wire/mqtt_receive.py against a real Mosquitto: plain QoS 1 messages taken in bulk from
the read buffer arrive whole, in order, with their mids and DUP flags; every other packet
(QoS 0, retained, with properties, larger than one socket read) still takes paho's path;
and nothing is acknowledged until the caller acks (an unacked message comes back with
DUP after a reconnect)."""

from __future__ import annotations

import threading
import time
from typing import Any

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import wait_until

from wire import mqtt
from wire.mqtt_receive import BulkReceiver


class Inbox:
    """What the receiver got, from paho's network thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, bytes, int, int, bool, bool]] = []

    def on_message(self, _c: Any, _u: Any, m: Any) -> None:
        with self.lock:
            self.messages.append((m.topic, bytes(m.payload), m.mid, m.qos, m.dup, m.retain))

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


def _receiver(
    port: int, inbox: Inbox, client_id: str = "receiver", receive_maximum: int = 5000
) -> BulkReceiver:
    s = mqtt.BrokerSettings(port=port, client_id=client_id, session_expiry_s=600,
                            receive_maximum=receive_maximum)  # fmt: skip
    client = mqtt.connect(s, manual_ack=True, bulk_receive=True, on_message=inbox.on_message)
    assert isinstance(client, BulkReceiver)
    client.subscribe("t/#", qos=1)
    time.sleep(0.2)  # the SUBACK
    return client


def test_a_flood_arrives_whole_in_order_and_is_acked_by_the_caller(broker_factory):  # noqa: F811
    broker = broker_factory()
    inbox = Inbox()
    receiver = _receiver(broker.port, inbox)
    by_paho = 0
    paho_handle_publish = receiver._handle_publish

    def counted() -> Any:
        nonlocal by_paho
        by_paho += 1
        return paho_handle_publish()

    receiver._handle_publish = counted  # type: ignore[method-assign]
    pub = mqtt.connect(mqtt.BrokerSettings(port=broker.port, client_id="pub"), bulk=True)
    try:
        payloads = [f"事件 {n} ".encode() * (1 + n % 40) for n in range(3000)]
        for start in range(0, 3000, 100):
            pub.publish_many([(f"t/{n % 7}", payloads[n]) for n in range(start, start + 100)])
        wait_until(lambda: inbox.count() >= 3000, 20, "the flood")
        assert [m[1] for m in inbox.messages] == payloads
        assert [m[0] for m in inbox.messages] == [f"t/{n % 7}" for n in range(3000)]
        assert all(m[3] == 1 and not m[4] and not m[5] for m in inbox.messages)
        assert len({m[2] for m in inbox.messages[:1000]}) == 1000  # distinct mids in flight
        # Only a packet cut by the end of a socket read takes paho's parser.
        assert by_paho < 300, by_paho
        for m in inbox.messages:
            receiver.ack(m[2], 1)
    finally:
        mqtt.close(pub)
        mqtt.close(receiver)


def test_other_packets_take_paho_s_path_between_plain_ones(broker_factory):  # noqa: F811
    broker = broker_factory()
    inbox = Inbox()
    pub = mqtt.connect(mqtt.BrokerSettings(port=broker.port, client_id="pub"))
    mqtt.publish_and_wait(pub, "t/retained", b"kept", retain=True)
    receiver = _receiver(broker.port, inbox)
    try:
        big = bytes(range(256)) * 1000  # 256 kB: several socket reads
        props = mqtt.publish_properties(response_topic="t/reply", correlation=b"42")
        sends = [("t/a", b"plain 1", 1, None), ("t/b", b"qos 0", 0, None),
                 ("t/c", b"with properties", 1, props), ("t/d", big, 1, None),
                 ("t/e", b"plain 2", 1, None)]  # fmt: skip
        for topic, payload, qos, properties in sends:
            pub.publish(topic, payload, qos=qos, properties=properties).wait_for_publish(5)
        wait_until(lambda: inbox.count() >= 6, 10, "every message")
        got = [(m[0], m[1], m[3], m[5]) for m in inbox.messages]
        assert got == [("t/retained", b"kept", 1, True)] + [
            (topic, payload, qos, False) for topic, payload, qos, _ in sends
        ]
        for m in inbox.messages:
            receiver.ack(m[2], m[3])
    finally:
        mqtt.close(pub)
        mqtt.close(receiver)


def test_an_unacknowledged_message_comes_back_with_dup(broker_factory):  # noqa: F811
    broker = broker_factory()
    first, second = Inbox(), Inbox()
    receiver = _receiver(broker.port, first)
    pub = mqtt.connect(mqtt.BrokerSettings(port=broker.port, client_id="pub"), bulk=True)
    try:
        pub.publish_many([(f"t/{n}", f"m{n}".encode()) for n in range(50)])
        wait_until(lambda: first.count() >= 50, 10, "the first delivery")
        receiver.ack_many(m[2] for m in first.messages[:30])
        time.sleep(0.3)  # the PUBACKs reach the broker
        mqtt.close(receiver)  # 20 received, never acknowledged
        receiver = _receiver(broker.port, second)
        wait_until(lambda: second.count() >= 20, 10, "the redelivery")
        time.sleep(0.3)
        assert [m[1] for m in second.messages] == [f"m{n}".encode() for n in range(30, 50)]
        assert all(m[4] for m in second.messages), "redelivered with DUP"
    finally:
        mqtt.close(pub)
        mqtt.close(receiver)


def test_ack_many_releases_the_receive_maximum_and_settles_every_message(broker_factory):  # noqa: F811
    """With Receive Maximum 100 the broker holds the rest until PUBACKs come: 1,000
    messages arrive only if the one-write acknowledgements reach it, and none comes
    back after a reconnect."""
    broker = broker_factory()
    inbox, after = Inbox(), Inbox()
    receiver = _receiver(broker.port, inbox, receive_maximum=100)
    pub = mqtt.connect(mqtt.BrokerSettings(port=broker.port, client_id="pub"), bulk=True)
    try:
        for start in range(0, 1000, 100):
            pub.publish_many([(f"t/{n}", f"m{n}".encode()) for n in range(start, start + 100)])
        wait_until(lambda: inbox.count() >= 100, 10, "the first 100")
        time.sleep(0.3)
        assert inbox.count() == 100, "the broker holds the rest until PUBACKs come"
        acked, deadline = 0, time.monotonic() + 20
        while acked < 1000 and time.monotonic() < deadline:
            arrived = inbox.count()
            receiver.ack_many(m[2] for m in inbox.messages[acked:arrived])
            acked = arrived
            time.sleep(0.05)
        assert acked == 1000
        time.sleep(0.3)  # the last PUBACKs reach the broker
        mqtt.close(receiver)
        receiver = _receiver(broker.port, after, receive_maximum=100)
        time.sleep(0.5)
        assert after.count() == 0, "an acknowledged message came back"
        assert [m[1] for m in inbox.messages] == [f"m{n}".encode() for n in range(1000)]
    finally:
        mqtt.close(pub)
        mqtt.close(receiver)
