"""A paho client for receiving many QoS 1 messages: plain PUBLISH packets in bulk.

Why: stock paho spends, per received message, a packet decoder with a v5 Properties
object, a debug log call, a topic decode and a filtered-callback match under a lock:
a third of the county collector's CPU under a flood (py-spy, bench_collector). This
subclass of ``wire.mqtt.BufferedClient`` (which reads the socket in large chunks)
takes the QoS 1 PUBLISH packets without properties that sit complete in the read
buffer, builds each ``MQTTMessage`` directly and calls ``on_message`` with them;
every other packet (QoS 0 or 2, retained, with properties, cut by the buffer's end)
goes through paho's parser as before. Acknowledging stays the caller's
(``manual_ack=True``): ``ack(mid, 1)`` as for paho's own messages, or ``ack_many``
for a committed batch, whose PUBACKs go out as one write (paho's ``ack`` wakes the
network thread through its socket pair once per message).

It relies on paho 2.x internals (pinned ``<3`` in pyproject), as ``wire.mqtt_bulk``
does; tests/test_mqtt_receive.py checks it against a real broker.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, cast

from paho.mqtt import client as paho

from wire.mqtt import BufferedClient

#: First byte of a QoS 1 PUBLISH without RETAIN, without and with DUP.
_PUBLISH_QOS1, _PUBLISH_QOS1_DUP = 0x32, 0x3A
#: A PUBACK of success without properties: type 4, remaining length 2, the packet id
#: (MQTT 5.0 section 3.4.2.1 allows leaving out reason code 0 and the properties).
_PUBACK = struct.Struct("!BBH")


def _received(mid: int, topic: bytes, payload: bytes, dup: bool) -> paho.MQTTMessage:
    """An ``MQTTMessage`` as paho makes one for a received QoS 1 PUBLISH, without the
    ``MQTTMessageInfo`` (a ``threading.Condition``, 5 % of a collector's CPU) that only
    a sent message uses: ``info`` is None."""
    message = paho.MQTTMessage.__new__(paho.MQTTMessage)
    message.timestamp, message.state, message.dup = 0.0, paho.mqtt_ms_invalid, dup
    message.mid, message._topic, message.payload = mid, topic, payload
    message.qos, message.retain, message.properties = 1, False, None
    message.info = None  # type: ignore[assignment]  # paho types it for sent messages
    return message


class BulkReceiver(BufferedClient):
    """``on_message`` gets plain QoS 1 messages straight from the read buffer."""

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge these QoS 1 messages, as ``ack(mid, 1)`` for each, in one write."""
        packet = b"".join(_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids)
        if packet:
            self._packet_queue(paho.PUBACK, packet, 0, 1)

    def _packet_read(self) -> paho.MQTTErrorCode:
        # At a packet boundary, with bytes of this connection buffered (BufferedClient).
        if (
            self._in_packet["command"] == 0
            and self._rpos < len(self._rbuf)
            and self._rsock is self._sock
            and self._manual_ack
        ):
            self._deliver_plain_publishes()
        return super()._packet_read()

    def _deliver_plain_publishes(self) -> None:
        buf, pos, end = self._rbuf, self._rpos, len(self._rbuf)
        messages: list[paho.MQTTMessage] = []
        while pos < end and buf[pos] in (_PUBLISH_QOS1, _PUBLISH_QOS1_DUP):
            length, shift, at = 0, 0, pos + 1
            while at < end and at - pos <= 4:  # remaining length: at most 4 bytes
                byte = buf[at]
                length |= (byte & 0x7F) << shift
                shift += 7
                at += 1
                if not byte & 0x80:
                    break
            else:
                break  # cut by the buffer's end (or malformed): paho's parser decides
            stop = at + length
            if stop > end or length < 5:
                break
            topic_end = at + 2 + ((buf[at] << 8) | buf[at + 1])
            # mid (2 bytes), then a properties length of 0: anything else goes to paho
            if topic_end + 3 > stop or buf[topic_end + 2] != 0:
                break
            mid = (buf[topic_end] << 8) | buf[topic_end + 1]
            dup = buf[pos] == _PUBLISH_QOS1_DUP
            messages.append(_received(mid, buf[at + 2 : topic_end], buf[topic_end + 3 : stop], dup))
            pos = stop
        if not messages:
            return
        self._rpos = pos
        now = paho.time_func()
        with self._msgtime_mutex:
            self._last_bytes_received = now
        on_message = cast(Callable[..., Any] | None, self.on_message)
        for message in messages:
            message.timestamp = now
            if on_message is not None:
                with self._in_callback_mutex:
                    on_message(self, self._userdata, message)
