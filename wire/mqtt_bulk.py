"""A paho client for draining many QoS 1 messages: publishes and PUBACKs in bulk.

Why: stock paho spends, per QoS 1 message, a wake-up byte on its socket pair and one
``send()``; per PUBACK a ReasonCode, a Properties and a callback under two locks. At
thousands of events a second that, not the broker, bounds the kiosk uplink. This
subclass of ``wire.mqtt.BufferedClient`` (which reads the socket in large chunks)
keeps paho's session (messages stay in ``_out_messages``, so paho still resends them
with DUP after a reconnect) and paho's handling of every other packet; it adds:

- ``publish_many()``: a batch of QoS 1 messages registered under one lock and queued
  as one write;
- plain success PUBACKs (remaining length 2: reason 0x00, no properties) found in
  the read buffer are settled in a loop and reported in one ``on_acks(mids)`` call.
  A PUBACK with a reason code (0x10, a refusal) or properties goes through paho's
  parser and ``on_publish`` as before.

It relies on paho 2.x internals (pinned ``<3`` in pyproject); tests/test_mqtt_bulk.py
checks the behaviour against a real broker.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any, cast

from paho.mqtt import client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from wire.mqtt import READ_CHUNK, BufferedClient

log = logging.getLogger(__name__)

#: First byte and remaining length of a PUBACK that says "success" and nothing more.
_PUBACK, _PLAIN = 0x40, 2
_PUBLISH_QOS1 = 0x32
_MID = struct.Struct("!H")

#: What ``on_publish`` is given for a plain PUBACK when no ``on_acks`` is set.
PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK, "Success")


def _varint(n: int) -> bytes:
    """MQTT "remaining length": 7 bits a byte, high bit set while more follow."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


class BulkPublisher(BufferedClient):
    """paho's client plus ``publish_many`` and a batched PUBACK path (see module doc).

    The caller bounds its own window: paho's ``max_inflight`` is off (0), because
    paho's bound walks every message in flight on each PUBACK.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_inflight_messages_set(0)
        #: Called with the mids of plain success PUBACKs, once per read.
        self.on_acks: Callable[[list[int]], None] | None = None
        self._topics: dict[str, bytes] = {}

    # ---- publishing ---------------------------------------------------------------

    def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> list[int]:
        """Publish ``(topic, payload)`` pairs at QoS 1, in order; returns their mids.

        Offline, the messages wait in paho's session and go out on reconnect, as
        ``publish()`` would do.
        """
        if not messages:
            return []
        mids: list[int] = []
        packets: list[bytes] = []
        now = paho.time_func()
        with self._out_message_mutex:
            online = self._sock is not None
            state = paho.mqtt_ms_wait_for_puback if online else paho.mqtt_ms_publish
            for topic, payload in messages:
                topic_bytes = self._topics.get(topic) or self._topic_bytes(topic)
                mid = self._mid_generate()
                if mid in self._out_messages:
                    raise RuntimeError("more than 65,535 messages in flight")
                message = paho.MQTTMessage(mid, topic_bytes)
                message.timestamp = now
                message.payload = payload
                message.qos = 1
                message.state = state
                self._out_messages[mid] = message
                mids.append(mid)
                if online:
                    packets.append(
                        b"".join(
                            (
                                b"\x32",
                                _varint(len(topic_bytes) + len(payload) + 5),
                                _MID.pack(len(topic_bytes)),
                                topic_bytes,
                                _MID.pack(mid),
                                b"\x00",  # no properties
                                payload,
                            )
                        )
                    )
            if packets:
                self._inflight_messages += len(packets)
                # One queued write for the batch: paho sends bytes, it does not re-parse.
                self._packet_queue(paho.PUBLISH, b"".join(packets), 0, 1, None)
        return mids

    def _topic_bytes(self, topic: str) -> bytes:
        encoded = topic.encode()
        self._raise_for_invalid_topic(encoded)
        if len(self._topics) < 1024:
            self._topics[topic] = encoded
        return encoded

    # ---- reading --------------------------------------------------------------------

    def _packet_read(self) -> paho.MQTTErrorCode:
        # At a packet boundary: fill the buffer (BufferedClient's) if it is empty, so the
        # first PUBACK of each read takes the fast path too, then settle plain PUBACKs.
        if self._in_packet["command"] == 0 and self._sock is not None:
            if self._rsock is not self._sock or self._rpos >= len(self._rbuf):
                self._fill()
            if self._rsock is self._sock and self._rpos < len(self._rbuf):
                self._settle_plain_pubacks()
        return super()._packet_read()

    def _fill(self) -> None:
        """What the socket has, into the buffer; errors and end of stream are left to
        paho's own read, which meets them again."""
        try:
            data = paho.Client._sock_recv(self, READ_CHUNK)
        except (BlockingIOError, OSError, ConnectionError):
            return
        if data:
            self._rbuf, self._rpos, self._rsock = data, 0, self._sock

    def _settle_plain_pubacks(self) -> None:
        buf, pos, end = self._rbuf, self._rpos, len(self._rbuf) - 3
        mids: list[int] = []
        while pos < end and buf[pos] == _PUBACK and buf[pos + 1] == _PLAIN:
            mids.append((buf[pos + 2] << 8) | buf[pos + 3])
            pos += 4
        if not mids:
            return
        self._rpos = pos
        with self._msgtime_mutex:
            self._last_bytes_received = paho.time_func()
        settled: list[paho.MQTTMessage] = []
        with self._out_message_mutex:
            for mid in mids:
                message = self._out_messages.pop(mid, None)
                if message is not None:  # as paho: a duplicate PUBACK is ignored
                    self._inflight_messages -= 1
                    settled.append(message)
        if settled:
            self._report([m.mid for m in settled])
        for message in settled:
            message.info._set_as_published()

    def _report(self, mids: list[int]) -> None:
        on_acks = self.on_acks
        on_publish = cast(Callable[..., None] | None, self.on_publish)
        with self._in_callback_mutex:
            try:
                if on_acks is not None:
                    on_acks(mids)
                elif on_publish is not None:
                    props = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]  # paho: untyped
                    for mid in mids:
                        on_publish(self, self._userdata, mid, PUBACK_SUCCESS, props)
            except Exception:
                log.exception("PUBACK callback failed")
                if not self.suppress_exceptions:
                    raise
