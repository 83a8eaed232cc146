"""wire/mqtt_bulk.py against a real Mosquitto: bulk publishes arrive whole and in order,
plain PUBACKs are reported in bulk, and any other PUBACK still takes paho's own path."""

from __future__ import annotations

import threading
import time
from typing import Any

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import wait_until

from wire import mqtt


class Acks:
    """What the client reported, from paho's network thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bulk: list[list[int]] = []
        self.single: list[tuple[int, int]] = []

    def on_acks(self, mids: list[int]) -> None:
        with self.lock:
            self.bulk.append(list(mids))

    def on_publish(self, _c: Any, _u: Any, mid: int, rc: mqtt.ReasonCode, _p: Any) -> None:
        with self.lock:
            self.single.append((mid, rc.value))

    def mids(self) -> list[int]:
        with self.lock:
            return [m for batch in self.bulk for m in batch] + [m for m, _ in self.single]


def settings(port: int, client_id: str) -> mqtt.BrokerSettings:
    return mqtt.BrokerSettings(port=port, client_id=client_id)


def test_publish_many_arrives_in_order_and_acks_come_in_bulk(broker_factory):  # noqa: F811
    broker = broker_factory()
    received: list[bytes] = []
    sub = mqtt.connect(
        settings(broker.port, "sub"),
        on_message=lambda _c, _u, m: received.append(m.payload),
    )
    sub.subscribe("t/#", qos=1)
    acks = Acks()
    pub = mqtt.connect(
        settings(broker.port, "pub"), bulk=True, on_acks=acks.on_acks, on_publish=acks.on_publish
    )
    try:
        time.sleep(0.2)  # the SUBACK
        payloads = [f"event {n}".encode() * 20 for n in range(3000)]
        mids: list[int] = []
        for start in range(0, len(payloads), 100):
            batch = [(f"t/{n % 3}", p) for n, p in enumerate(payloads[start : start + 100])]
            mids += pub.publish_many(batch)
            sent = len(mids)
            wait_until(lambda: len(acks.mids()) >= sent, 5, "PUBACKs")  # noqa: B023
        assert sorted(acks.mids()) == sorted(mids) and len(set(mids)) == 3000
        assert all(code == 0 for _, code in acks.single)
        assert len(acks.bulk) + len(acks.single) < 3000, "PUBACKs were reported one by one"
        wait_until(lambda: len(received) >= 3000, 10, "delivery")
        assert received == payloads
    finally:
        mqtt.close(pub)
        mqtt.close(sub)


def test_a_puback_with_a_reason_code_goes_through_paho(broker_factory):  # noqa: F811
    """Nobody subscribed: the broker answers 0x10 to each, with the reason code byte."""
    broker = broker_factory()
    acks = Acks()
    pub = mqtt.connect(
        settings(broker.port, "pub"), bulk=True, on_acks=acks.on_acks, on_publish=acks.on_publish
    )
    try:
        mids = pub.publish_many([("nobody/listens", b"x")] * 50)
        wait_until(lambda: len(acks.single) >= 50, 5, "PUBACKs")
        assert acks.bulk == []
        assert sorted(acks.single) == sorted((mid, 0x10) for mid in mids)
    finally:
        mqtt.close(pub)


def test_published_offline_goes_out_once_connected(broker_factory):  # noqa: F811
    broker = broker_factory()
    received: list[bytes] = []
    sub = mqtt.connect(
        settings(broker.port, "sub"), on_message=lambda _c, _u, m: received.append(m.payload)
    )
    sub.subscribe("t/#", qos=1)
    time.sleep(0.2)
    acks = Acks()
    pub = mqtt.async_client(settings(broker.port, "pub"), bulk=True, on_acks=acks.on_acks,
                            on_publish=acks.on_publish)  # fmt: skip
    try:
        mids = pub.publish_many([("t/offline", b"%d" % n) for n in range(20)])
        pub.loop_start()
        wait_until(lambda: len(acks.mids()) >= 20, 5, "PUBACKs")
        assert sorted(acks.mids()) == sorted(mids)
        wait_until(lambda: len(received) >= 20, 5, "delivery")
        assert received == [b"%d" % n for n in range(20)]
    finally:
        mqtt.close(pub)
        mqtt.close(sub)
