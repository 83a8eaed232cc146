"""The one place MQTT clients are made (paho v2, MQTT v5), for services and CLIs alike.

Every client gets TLS, login, session and Will the same way, and every client
reconnects with jittered exponential backoff: a broker restart drops a county's
kiosks, listeners and collectors at the same instant, and paho's fixed doubling
would bring them all back in lockstep, a storm the broker meets at its weakest.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client as Client  # re-exported: callers never import paho
from paho.mqtt.client import MQTTErrorCode, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode as ReasonCode  # re-exported

from wire.topics import PREFIX

#: Callers annotate with these instead of importing paho.
Message = MQTTMessage
Callback = Callable[..., None]

#: A broker on the county LAN answers in milliseconds; this is for one that is down.
CONNECT_TIMEOUT_S = 10.0
#: Session Expiry Interval must fit in four bytes (MQTT v5 §3.1.2.11.2).
SESSION_EXPIRY_MAX_S = 0xFFFFFFFF
#: PUBACK reason codes from 0x80 up are refusals (MQTT v5 §3.4.2.1).
PUBACK_FAILURE_MIN = 0x80


class BrokerError(RuntimeError):
    """Cannot connect, or the broker refused; the message says which."""


@dataclass(frozen=True)
class TlsSettings:
    """CA to verify the broker; cert/key for client-certificate identity (optional)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_files(cls, ca: Path | None, cert: Path | None, key: Path | None) -> TlsSettings | None:
        """The one rule for every config: TLS is on when a CA or a client cert is given."""
        return cls(ca, cert, key) if ca or cert else None


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    #: None means plain TCP (lab and tests only).
    tls: TlsSettings | None = None
    client_id: str = ""
    #: The topic namespace the broker's ACL is written for.
    prefix: str = PREFIX
    keepalive_s: int = 60
    #: None: a clean session each time. A number: the broker keeps the session (queued
    #: messages, subscriptions) this long while the client is away.
    session_expiry_s: int | None = None
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    #: Unacknowledged messages the broker may have outstanding to this client.
    receive_maximum: int | None = None

    def __post_init__(self) -> None:
        if self.session_expiry_s is not None and not (
            0 <= self.session_expiry_s <= SESSION_EXPIRY_MAX_S
        ):
            raise ValueError("session_expiry_s out of range")


@dataclass(frozen=True)
class Will:
    """Published by the broker if the client vanishes without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def jittered_backoff(attempt: int, low: float, high: float) -> float:
    """Exponential backoff with "equal jitter", so clients do not retry in lockstep."""
    ceiling = min(high, low * (2 ** min(attempt, 30)))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))


#: What one buffered read asks the socket for (a TLS socket returns at most a record).
READ_CHUNK = 64 * 1024


class BufferedClient(Client):
    """A paho client that reads the socket in large chunks.

    paho reads each packet with three or more ``recv`` calls (the command byte, each
    remaining-length byte, the body) and goes back to ``select`` after each packet: at
    thousands of messages a second that is most of a collector's network thread, and
    every call hands the GIL away. This client serves those small reads from one
    buffer and handles every complete packet it holds before the next ``select``.
    """

    _rbuf = b""
    _rpos = 0
    _rsock: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: nothing of the old one
            self._rbuf, self._rpos, self._rsock = b"", 0, self._sock
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, READ_CHUNK))  # raises when none waits
            if len(data) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return data
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start : self._rpos]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # select() cannot see what the buffer holds: handle it now.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            if self._rsock is not self._sock:
                break
            rc = super().loop_read(max_packets)
        return rc


def make_client(
    settings: BrokerSettings,
    *,
    will: Will | None = None,
    manual_ack: bool = False,
    max_inflight: int | None = None,
    buffered_reads: bool = False,
    bulk: bool = False,
    bulk_receive: bool = False,
    on_connect: Callback | None = None,
    on_disconnect: Callback | None = None,
    **callbacks: Callback,
) -> Client:
    """A configured client, not connected; ``callbacks`` are paho v2 ``on_*`` callbacks.
    ``buffered_reads`` for a client that receives floods (``BufferedClient``); ``bulk``
    for one that drains many QoS 1 messages and keeps its own window
    (``wire.mqtt_bulk.BulkPublisher``, buffered as well); ``bulk_receive`` for one that
    takes many QoS 1 messages with manual acks (``wire.mqtt_receive.BulkReceiver``)."""
    s = settings
    kind: type[Client] = BufferedClient if buffered_reads else Client
    if bulk:
        from wire.mqtt_bulk import BulkPublisher  # it builds on BufferedClient, defined here

        kind = BulkPublisher
    if bulk_receive:
        from wire.mqtt_receive import BulkReceiver  # it builds on BufferedClient as well

        kind = BulkReceiver
    client = kind(
        CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=MQTTv5, manual_ack=manual_ack
    )
    if s.tls is not None:
        client.tls_set(
            ca_certs=str(s.tls.ca) if s.tls.ca else None,
            certfile=str(s.tls.cert) if s.tls.cert else None,
            keyfile=str(s.tls.key) if s.tls.key else None,
        )
    if s.username:
        client.username_pw_set(s.username, s.password)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    if max_inflight is not None:  # QoS 1 messages awaiting PUBACK (paho's default is 20)
        client.max_inflight_messages_set(max_inflight)
    attempt = 0

    def backoff(c: Client, *_a: Any) -> None:
        # paho waits reconnect_min after a drop, then doubles; we set each wait ourselves.
        nonlocal attempt
        delay = jittered_backoff(attempt, s.reconnect_min_s, s.reconnect_max_s)
        attempt += 1
        c.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]  # paho types it int; floats work

    def connected(c: Client, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        nonlocal attempt
        if rc.is_failure:
            backoff(c)
        else:
            attempt = 0
        if on_connect is not None:
            on_connect(c, u, flags, rc, props)

    def disconnected(c: Client, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        backoff(c)
        if on_disconnect is not None:
            on_disconnect(c, u, flags, rc, props)

    client.on_connect = connected
    client.on_disconnect = disconnected
    client.on_connect_fail = backoff
    for name, callback in callbacks.items():
        setattr(client, name, callback)
    return client


def _connect_options(s: BrokerSettings) -> dict[str, Any]:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
    if s.receive_maximum is not None:
        props.ReceiveMaximum = s.receive_maximum
    if s.session_expiry_s is None:
        return {"keepalive": s.keepalive_s, "properties": props}
    props.SessionExpiryInterval = s.session_expiry_s
    # Resume the session the broker kept rather than start afresh.
    return {"keepalive": s.keepalive_s, "properties": props, "clean_start": False}


def async_client(settings: BrokerSettings, **options: Any) -> Client:
    """For services: connects (and reconnects) once the caller runs ``loop_start()``.

    ``options`` as ``make_client``; starting the loop is left to the caller so it can
    first make everything the callbacks touch.
    """
    client = make_client(settings, **options)
    client.connect_async(settings.host, settings.port, **_connect_options(settings))
    return client


def connect(
    settings: BrokerSettings, *, timeout: float = CONNECT_TIMEOUT_S, **options: Any
) -> Client:
    """For CLIs: a started client with its CONNACK in hand, or BrokerError saying why."""
    where = f"the broker {settings.host}:{settings.port}"
    ready = threading.Event()
    failure: list[str] = []
    user_connect = options.pop("on_connect", None)
    user_disconnect = options.pop("on_disconnect", None)

    def on_connect(c: Client, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        if rc.is_failure:
            failure.append(f"{where} refused the connection: {rc}")
        elif user_connect is not None:
            user_connect(c, u, flags, rc, props)
        ready.set()

    def on_disconnect(c: Client, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        if not ready.is_set():  # e.g. TLS 1.3: a refused client certificate shows only now
            failure.append(f"{where} closed the connection before accepting it: {rc}")
            ready.set()
        if user_disconnect is not None:
            user_disconnect(c, u, flags, rc, props)

    client = make_client(settings, on_connect=on_connect, on_disconnect=on_disconnect, **options)
    try:
        client.connect(settings.host, settings.port, **_connect_options(settings))
    except OSError as error:
        raise BrokerError(f"cannot reach {where}: {error}") from None
    client.loop_start()
    if not ready.wait(timeout):
        failure.append(f"no answer from {where} within {timeout:.0f} s")
    if failure:
        client.loop_stop()
        raise BrokerError(failure[0])
    return client


def close(client: Client) -> None:
    """Disconnect and stop the network thread."""
    client.disconnect()
    client.loop_stop()


def publish_properties(
    *, response_topic: str | None = None, correlation: bytes | None = None
) -> Properties:
    """PUBLISH properties for MQTT v5 request/response."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: untyped
    if response_topic is not None:
        props.ResponseTopic = response_topic
    if correlation is not None:
        props.CorrelationData = correlation
    return props


def publish_and_wait(
    client: Client,
    topic: str,
    payload: bytes | str,
    *,
    retain: bool = False,
    properties: Properties | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> None:
    """QoS 1 publish that waits for PUBACK; BrokerError on a refusal (ACL: 0x87).

    0x10 (no matching subscribers) counts as delivered: a retained message still
    reaches whoever subscribes later.
    """
    acks: dict[int, int] = {}
    done = threading.Event()
    previous: Callable[..., None] | None = client.on_publish

    def on_publish(c: Client, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
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
        if acks[info.mid] >= PUBACK_FAILURE_MIN:
            raise BrokerError(
                f"broker refused publishing to {topic}: reason 0x{acks[info.mid]:02x}"
            )
    finally:
        client.on_publish = previous
