"""The broker, configured with docs/deploy/mosquitto's ACL, keeps kiosks in their lane."""

from __future__ import annotations

import threading
from dataclasses import replace

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import deploy_acl, enqueue_many, open_kiosk, wait_until

from kiosk.infra.uplink import PUBACK_FAILURE_MIN, Uplink, UplinkSettings
from wire.mqtt import BrokerError, BrokerSettings, close, connect, publish_and_wait

NOT_AUTHORIZED = 0x87
ACCOUNTS = """
kiosk      330100/K001
kiosk      330100/K002
kiosk      340100/K001      # same device id, another county
collector  collector-330100 330100
county     county-330100 330100
"""
PASSWORDS = {
    "330100/K001": "pw-a",
    "330100/K002": "pw-b",
    "340100/K001": "pw-c",
    "collector-330100": "pw-col",
    "county-330100": "pw-county",
}


class Client:
    """A bare paho v5 client recording PUBACK reason codes and received messages."""

    def __init__(self, port: int, user: str) -> None:
        self.acks: dict[int, int] = {}
        self.received: list[tuple[str, bytes]] = []
        self.subacks: list[list[int]] = []
        self._connected = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}",
                             protocol=mqtt.MQTTv5)  # fmt: skip
        self.c.username_pw_set(user, PASSWORDS[user])
        self.c.on_connect = lambda *a: self._connected.set()
        self.c.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc.value)
        self.c.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.c.on_subscribe = lambda _c, _u, _m, rcs, _p: self.subacks.append(
            [rc.value for rc in rcs]
        )
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self._connected.wait(5)

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """PUBACK reason code of a QoS 1 publish."""
        info = self.c.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.acks, 5, f"PUBACK for {topic}")
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_kiosk_cannot_publish_as_another_or_read_its_commands(tmp_path, broker_factory):  # noqa: F811
    acl = deploy_acl(tmp_path / "acl", ACCOUNTS)
    broker = broker_factory(acl=acl, passwords=PASSWORDS)
    port = broker.port
    a = Client(port, "330100/K001")
    b = Client(port, "330100/K002")
    county = Client(port, "county-330100")
    try:
        assert a.publish("agriqs/v1/330100/K001/evt/alarm") < PUBACK_FAILURE_MIN
        assert a.publish("agriqs/v1/330100/K001/state") < PUBACK_FAILURE_MIN
        assert a.publish("agriqs/v1/330100/K002/evt/alarm") == NOT_AUTHORIZED
        assert a.publish("agriqs/v1/340100/K001/evt/alarm") == NOT_AUTHORIZED
        assert a.publish("agriqs/v1/330100/K002/state") == NOT_AUTHORIZED
        assert a.publish("agriqs/v1/330100/K001/cmd/reboot") == NOT_AUTHORIZED
        assert a.publish("agriqs/v1/330100/trust") == NOT_AUTHORIZED

        for client in (a, b):
            client.c.subscribe(
                [("agriqs/v1/330100/K002/cmd/#", 1), ("agriqs/v1/330100/trust", 1),
                 ("agriqs/v1/340100/trust", 1)]
            )  # fmt: skip
        wait_until(lambda: a.subacks and b.subacks, 5, "SUBACKs")
        assert county.publish("agriqs/v1/330100/K002/cmd/reboot", b"cmd") < PUBACK_FAILURE_MIN
        assert county.publish("agriqs/v1/330100/trust", b"trust") < PUBACK_FAILURE_MIN
        assert county.publish("agriqs/v1/340100/trust", b"x") == NOT_AUTHORIZED
        wait_until(lambda: len(b.received) >= 2, 5, "K002 gets its command and the trust list")
        wait_until(lambda: len(a.received) >= 1, 5, "K001 gets the trust list")
        assert sorted(t for t, _ in b.received) == [
            "agriqs/v1/330100/K002/cmd/reboot",
            "agriqs/v1/330100/trust",
        ]
        assert [t for t, _ in a.received] == ["agriqs/v1/330100/trust"]  # not K002's command
    finally:
        for client in (a, b, county):
            client.close()


def test_uplink_keeps_events_the_broker_refuses(tmp_path, broker_factory):  # noqa: F811
    """A kiosk configured as K002 but logged in as K001: every event refused, none lost."""
    acl = deploy_acl(tmp_path / "acl", ACCOUNTS)
    broker = broker_factory(acl=acl, passwords=PASSWORDS)
    store, outbox = open_kiosk(tmp_path / "kiosk.db", device="K002")
    enqueue_many(store, outbox, 5)
    settings = UplinkSettings(host="127.0.0.1", port=broker.port, username="330100/K001",
                              password="pw-a", reconnect_min_s=0.1)  # fmt: skip
    with Uplink(settings, tmp_path / "kiosk.db", "330100", "K002") as uplink:
        wait_until(lambda: uplink.stats().refused >= 1, 5, "a refusal")
        assert uplink.stats().acked == 0
    rows = store.conn.execute("SELECT state, last_error FROM outbox ORDER BY seq").fetchall()
    assert {state for state, _ in rows} == {"sent"}
    assert "0x87" in rows[0][1]
    store.close()


def test_wrong_password_is_refused(tmp_path, broker_factory):  # noqa: F811
    acl = deploy_acl(tmp_path / "acl", ACCOUNTS)
    broker = broker_factory(acl=acl, passwords=PASSWORDS)
    refused = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    c.username_pw_set("330100/K001", "guess")
    c.on_connect = lambda _c, _u, _f, rc, _p: refused.set() if rc.is_failure else None
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        assert refused.wait(5)
    finally:
        c.disconnect()
        c.loop_stop()
    # The factory's clients log in the same way, and say why they could not.
    kiosk = BrokerSettings(port=broker.port, username="330100/K001", client_id="k")
    for wrong in (kiosk, replace(kiosk, password="guess")):
        with pytest.raises(BrokerError, match="refused the connection: Not authorized"):
            connect(wrong)
    client = connect(replace(kiosk, password="pw-a"))
    try:
        publish_and_wait(client, "agriqs/v1/330100/K001/evt/alarm", b"{}")
        with pytest.raises(BrokerError, match="reason 0x87"):
            publish_and_wait(client, "agriqs/v1/330100/K002/evt/alarm", b"{}")
    finally:
        close(client)
