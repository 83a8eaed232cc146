"""The county's provisioning connection to the broker (account ``county-{county}``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wire.topics import PREFIX

#: Connecting to a county broker on the same LAN takes milliseconds; this is for a
#: broker that is down or refusing, so the CLI says so instead of hanging.
CONNECT_TIMEOUT_S = 10.0


class BrokerError(RuntimeError):
    """Cannot connect or the broker refused; the message says which."""


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    prefix: str = PREFIX
    client_id: str = ""


def add_broker_args(parser: Any) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", help="county-{county} account")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key-file", dest="tls_key", type=Path, help="TLS client key")
    parser.add_argument("--prefix", default=PREFIX)


def settings_from_args(args: Any, client_id: str = "") -> BrokerSettings:
    password = args.password_file.read_text().strip() if args.password_file else None
    return BrokerSettings(
        args.host,
        args.port,
        args.username,
        password,
        args.ca,
        args.cert,
        args.tls_key,
        args.prefix,
        client_id,
    )


def connect(settings: BrokerSettings, **callbacks: Any) -> mqtt.Client:
    """A started paho v5 client, connected; BrokerError otherwise."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=mqtt.MQTTv5
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.ca or settings.cert:
        client.tls_set(
            ca_certs=str(settings.ca) if settings.ca else None,
            certfile=str(settings.cert) if settings.cert else None,
            keyfile=str(settings.key) if settings.key else None,
        )
    ready = threading.Event()
    failure: list[str] = []
    user_connect = callbacks.pop("on_connect", None)

    def on_connect(c: mqtt.Client, u: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            failure.append(str(rc))
        elif user_connect is not None:
            user_connect(c, u, flags, rc, props)
        ready.set()

    client.on_connect = on_connect
    for name, fn in callbacks.items():
        setattr(client, name, fn)
    try:
        client.connect(settings.host, settings.port)
    except OSError as error:
        raise BrokerError(
            f"cannot reach the broker {settings.host}:{settings.port}: {error}"
        ) from None
    client.loop_start()
    if not ready.wait(CONNECT_TIMEOUT_S) or failure:
        client.loop_stop()
        raise BrokerError(f"broker refused the connection: {failure[0] if failure else 'timeout'}")
    return client


def publish(
    client: mqtt.Client,
    topic: str,
    payload: bytes,
    *,
    retain: bool = False,
    properties: Any = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> None:
    """QoS 1 publish that waits for PUBACK; BrokerError on a refusal (ACL: 0x87)."""
    acks: dict[int, int] = {}
    done = threading.Event()
    previous = client.on_publish

    def on_publish(c: mqtt.Client, u: Any, mid: int, rc: Any, p: Any) -> None:
        acks[mid] = rc.value
        done.set()
        if previous is not None:
            previous(c, u, mid, rc, p)

    client.on_publish = on_publish
    try:
        info = client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        while info.mid not in acks:
            if not done.wait(timeout):
                raise BrokerError(f"no PUBACK for {topic}")
            done.clear()
        if acks[info.mid] >= 0x80:
            raise BrokerError(
                f"broker refused publishing to {topic}: reason 0x{acks[info.mid]:02x}"
            )
    finally:
        client.on_publish = previous
