"""Shared pieces of the county-intake attacks: a store on SQLite or PostgreSQL, a raw
MQTT publisher, and valid envelopes to mix with the poison."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.uplink import fixed_clock, sample

T = "agriqs/v1/330100/K001/evt/"
STATE = "agriqs/v1/330100/K001/state"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The county store, once per dialect (PostgreSQL through the ``pg_url`` fixture)."""
    if request.param == "sqlite":
        return str(tmp_path / "station.db")
    return str(request.getfixturevalue("pg_url"))


def envelope(schema: str, seq: int, device: str = "K001", **data: Any) -> dict[str, Any]:
    _, body = sample(schema, seq, device)
    body.update(data)
    return {"id": f"{device}:{seq}", "schema": schema, "version": 1, "envelope": 1,
            "county": "330100", "device": device, "seq": seq,
            "time": fixed_clock().isoformat(), "data": body}  # fmt: skip


def good(seq: int, device: str = "K001") -> bytes:
    return json.dumps(envelope("alarm.cleared", seq, device)).encode()


class Publisher:
    """A raw MQTT v5 client: sends whatever bytes an attacker likes."""

    def __init__(self, port: int, **login: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=login.pop("client_id", ""))  # fmt: skip
        if login:
            self.client.username_pw_set(login["username"], login.get("password"))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Any]:
    opened: list[Publisher] = []

    def make(port: int, **login: str) -> Publisher:
        pub = Publisher(port, **login)
        opened.append(pub)
        return pub

    yield make
    for pub in opened:
        pub.close()
