"""Issue 11 item 2: a client id belongs to the account that logged in.

Real Mosquitto with the production ACL (make_acl.py over acl.base) and the
agriqs_clientid plugin (docs/deploy/mosquitto/). Before: the enrollment account that
ships in every kiosk image connected as ``330100-K001-prov`` and wiped the kiosk's
session with its queued commands; against ``collector-1`` it lost events the kiosks had
been told were delivered; and it could publish under ``enroll-…/evt/…`` where a
collector subscribed to ``+/+/evt/#`` listens."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support.uplink import collector_settings, deploy_acl, wait_until

from station.collector import Collector
from station.db import Database

from .intake_rig import envelope

NOT_AUTHORIZED = 0x87
#: Where a collector subscribed to agriqs/v1/+/+/evt/# (or a county's states) listens.
ATTACK_TOPICS = (
    "agriqs/v1/enroll-330100/evt/evt/alarm",
    "agriqs/v1/county-330100/evt/evt/alarm",
    "agriqs/v1/collector-330100-2/evt/evt/alarm",
    "agriqs/v1/330100/K001/evt/alarm",
    "agriqs/v1/330100/K001/state",
)
ACCOUNTS = """
kiosk      330100/K001
kiosk      330100/K002
collector  collector-330100-1 330100
collector  collector-330100-2 330100
collector  collector-all-1 +
county     county-330100 330100
enroll     enroll-330100 330100
"""
PASSWORDS = {
    "330100/K001": "pw-a",
    "330100/K002": "pw-b",
    "collector-330100-1": "pw-c1",
    "collector-330100-2": "pw-c2",
    "collector-all-1": "pw-call",
    "county-330100": "pw-county",
    "enroll-330100": "pw-enroll",
}


class Session:
    """A paho v5 client under one account and client id; records what happens to it."""

    def __init__(self, port: int, user: str, client_id: str, *, keep: bool = False) -> None:
        self.port = port
        self.refused: int | None = None
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.acks: dict[int, int] = {}
        self.received: list[str] = []
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)  # fmt: skip
        self.c.username_pw_set(user, PASSWORDS[user])
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *_a: self.dropped.set()
        self.c.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc.value)
        self.c.on_message = lambda _c, _u, m: self.received.append(m.topic)
        props = Properties(PacketTypes.CONNECT)
        if keep:
            props.SessionExpiryInterval = 3600
        self.c.connect("127.0.0.1", port, clean_start=not keep, properties=props)
        self.c.loop_start()

    def _on_connect(self, _c, _u, _f, rc, _p) -> None:  # type: ignore[no-untyped-def]
        if rc.is_failure:
            self.refused = rc.value
            self.dropped.set()
        else:
            self.connected.set()

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        info = self.c.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.acks, 5, f"PUBACK for {topic}")
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def broker(tmp_path, broker_factory):  # type: ignore[no-untyped-def]
    acl = deploy_acl(tmp_path / "acl", ACCOUNTS)
    return broker_factory(acl=acl, passwords=PASSWORDS, bind_client_ids=True)


@pytest.fixture
def sessions():  # type: ignore[no-untyped-def]
    opened: list[Session] = []

    def open_(*args, **kwargs) -> Session:  # type: ignore[no-untyped-def]
        s = Session(*args, **kwargs)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


def _refused(session: Session) -> bool:
    session.dropped.wait(5)
    return session.refused == NOT_AUTHORIZED and not session.connected.is_set()


def test_enrollment_account_cannot_take_over_a_kiosk_session(broker, sessions):
    kiosk = sessions(broker.port, "330100/K001", "330100-K001-prov", keep=True)
    assert kiosk.connected.wait(5)
    subscribed = threading.Event()
    kiosk.c.on_subscribe = lambda *_a: subscribed.set()
    kiosk.c.subscribe("agriqs/v1/330100/K001/cmd/#", qos=1)
    assert subscribed.wait(5)
    kiosk.close()  # offline: its session holds what the county sends
    county = sessions(broker.port, "county-330100", "county-330100-cli")
    assert county.connected.wait(5)
    assert county.publish("agriqs/v1/330100/K001/cmd/reboot", b"cmd") < 0x80
    attacker = sessions(broker.port, "enroll-330100", "330100-K001-prov")  # clean start
    assert _refused(attacker)
    back = sessions(broker.port, "330100/K001", "330100-K001-prov", keep=True)
    assert back.connected.wait(5)
    wait_until(lambda: back.received, 5, "the queued command survived")
    assert back.received == ["agriqs/v1/330100/K001/cmd/reboot"]


def test_no_other_account_can_take_over_a_connected_kiosk(broker, sessions):
    kiosk = sessions(broker.port, "330100/K001", "330100-K001")
    assert kiosk.connected.wait(5)
    for user, password_id in (("330100/K002", "330100-K001"), ("enroll-330100", "330100-K001"),
                              ("county-330100", "330100-K001"),
                              ("collector-330100-1", "330100-K001")):  # fmt: skip
        assert _refused(sessions(broker.port, user, password_id)), user
    assert not kiosk.dropped.is_set()
    assert kiosk.publish("agriqs/v1/330100/K001/evt/alarm") < 0x80


def test_enrollment_account_cannot_take_over_a_collector(broker, sessions, tmp_path):
    settings = collector_settings(broker.port, username="collector-330100-1",
                                  password="pw-c1", client_id="collector-330100-1",
                                  county="330100")  # fmt: skip
    with Collector(settings, tmp_path / "station.db") as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        for user in ("enroll-330100", "collector-330100-2", "330100/K001"):
            assert _refused(sessions(broker.port, user, "collector-330100-1")), user
        kiosk = sessions(broker.port, "330100/K001", "330100-K001")
        assert kiosk.connected.wait(5)
        for seq in range(1, 6):
            body = json.dumps(envelope("alarm.cleared", seq)).encode()
            assert kiosk.publish("agriqs/v1/330100/K001/evt/alarm", body) == 0
        wait_until(lambda: collector.stats().stored >= 5, 5, "all five events")
        assert collector.stats().connected
    with Database(tmp_path / "station.db") as db:
        assert db.count_events() == 5


def test_enrollment_account_cannot_publish_where_collectors_listen(broker, sessions, tmp_path):
    settings = collector_settings(broker.port, username="collector-all-1", password="pw-call",
                                  client_id="collector-all-1", county="+")  # fmt: skip
    with Collector(settings, tmp_path / "station.db") as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        enroll = sessions(broker.port, "enroll-330100", "enroll-330100-0123456789abcdef01234567")
        assert enroll.connected.wait(5)
        county = sessions(broker.port, "county-330100", "county-330100-x")
        assert county.connected.wait(5)
        collector_b = sessions(broker.port, "collector-330100-2", "collector-330100-2")
        assert collector_b.connected.wait(5)
        for who in (enroll, county, collector_b):
            for topic in ATTACK_TOPICS:
                assert who.publish(topic) == NOT_AUTHORIZED, topic
        # Its own enrollment request is still allowed (no subscriber here: 0x10).
        own = "agriqs/v1/enroll/330100/enroll-330100-0123456789abcdef01234567/req"
        assert enroll.publish(own) < 0x80
        assert collector.stats().received == 0


def test_enrollment_client_ids_must_carry_the_account_name(broker, sessions):
    assert _refused(sessions(broker.port, "enroll-330100", "enroll-0123456789abcdef"))
    ok = sessions(broker.port, "enroll-330100", "enroll-330100-0123456789abcdef01234567")
    assert ok.connected.wait(5)
