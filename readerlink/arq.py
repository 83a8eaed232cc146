"""Reliable, ordered delivery over the framed link (docs/protocol.md, "Acks and retransmission").

Pure state machine with time passed in, used by both the host and the simulated MCU:
sequence numbers, a send window, cumulative ACKs, NAKs for holes and corrupt frames,
and a retransmission timer whose timeout follows RFC 6298.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from readerlink.codec import CorruptFrame, Frame, encode_frame

# Frames in flight before the sender waits for an ACK. Four 265-byte frames (92 ms at
# 115200 baud) cover the ACK round trip several times over, so the line stays busy;
# a larger window only makes a noisy line resend more. It is far below half the
# 8-bit sequence space, so an old frame can never be taken for a new one.
WINDOW = 4
# Messages queued behind the window before senders block (back-pressure for firmware
# chunks, so progress reflects what went over the wire).
OUTBOX_LIMIT = 16
# RFC 6298 gains and variance factor, as the RFC gives them.
RTO_ALPHA = 1 / 8
RTO_BETA = 1 / 4
RTO_K = 4
# Clock granularity G of RFC 6298: the host polls its timers every few milliseconds.
RTO_GRANULARITY = 0.005
# The RFC's 1 s initial and minimum suit the Internet, not a wire: a full frame takes
# 23 ms at 115200 baud, so start at 250 ms and never go under 60 ms (which still
# rides out the scheduling jitter of a loaded Pi).
RTO_INITIAL = 0.25
RTO_MIN = 0.06
# Backoff stops doubling at 2 s so a stalled device is probed every 2 s at worst.
RTO_MAX = 2.0
# A frame retransmitted this recently is not sent again on a NAK (the NAK crossed it).
NAK_HOLDOFF = 0.02
# Consecutive timeouts of one frame after which the link is declared dead and resynced.
MAX_RETRIES = 10

LINK_CONTROL_MAX = 0x0F  # types at or below are unsequenced link control


def is_sequenced(msg_type: int) -> bool:
    """Only message types above the link-control range carry a sequence number."""
    return msg_type > LINK_CONTROL_MAX


class RtoEstimator:
    """Retransmission timeout from smoothed RTT and its variance (RFC 6298 section 2)."""

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = RTO_INITIAL
        self._base = RTO_INITIAL

    def sample(self, rtt: float) -> None:
        """Fold in one RTT measured on a frame that was sent only once (Karn's rule)."""
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - RTO_BETA) * self.rttvar + RTO_BETA * abs(self.srtt - rtt)
            self.srtt = (1 - RTO_ALPHA) * self.srtt + RTO_ALPHA * rtt
        self._base = min(
            RTO_MAX, max(RTO_MIN, self.srtt + max(RTO_GRANULARITY, RTO_K * self.rttvar))
        )
        self.rto = self._base

    def backoff(self) -> None:
        """Double the timeout after an expiry (RFC 6298 rule 5.5)."""
        self.rto = min(RTO_MAX, self.rto * 2)

    def restore(self) -> None:
        """Drop the backoff once an ACK acknowledges new data.

        RFC 6298 keeps the backed-off value until a fresh RTT sample; on a noisy wire
        (no congestion to back off from) fresh samples are rare, and a stuck 2 s timer
        starved the line. Any forward progress proves the peer answers.
        """
        self.rto = self._base


@dataclass(slots=True)
class _Outstanding:
    frame: bytes
    first_sent: float
    last_sent: float
    retransmitted: bool = False
    tries: int = 0
    epoch: int = 0  # retransmissions so far when first sent


# Message ids for the two control frames this module emits.
ACK = 0x01
NAK = 0x02


def _before(a: int, b: int) -> bool:
    """True if sequence number a precedes b (modulo 256, within half the space)."""
    return 0 < ((b - a) & 0xFF) < 128


class ArqEndpoint:
    """One side's sender and receiver state. Not thread-safe: the caller holds a lock."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.retransmits = 0
        self.timeouts = 0
        self.reset()

    def reset(self) -> None:
        """Back to sequence 0 both ways, nothing in flight (after a link reset)."""
        self.rto = RtoEstimator()
        self._tx_next = 0
        self._unacked: OrderedDict[int, _Outstanding] = OrderedDict()
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._deadline: float | None = None
        self._epoch = 0
        self._rx_expected = 0
        self._rx_buffer: dict[int, Frame] = {}
        self.dead = False

    # -- sender -------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Messages queued or in flight, not yet acknowledged."""
        return len(self._outbox) + len(self._unacked)

    @property
    def outbox_full(self) -> bool:
        return len(self._outbox) >= OUTBOX_LIMIT

    @property
    def deadline(self) -> float | None:
        """When poll() next has a retransmission to do."""
        return self._deadline

    def enqueue(self, msg_type: int, payload: bytes) -> None:
        """Queue a sequenced message; poll() sends it once the window has room."""
        self._outbox.append((msg_type, payload))

    def poll(self, now: float) -> list[bytes]:
        """Frames to write now: a retransmission if the timer expired, then new frames."""
        out: list[bytes] = []
        if self._unacked and self._deadline is not None and now >= self._deadline:
            # Resend the whole window: at most WINDOW small frames, and a lost tail
            # (nothing behind it to make the peer NAK) costs one timeout, not several.
            self._epoch += 1
            self.timeouts += 1
            for pending in self._unacked.values():
                pending.retransmitted = True
                pending.last_sent = now
                self.retransmits += 1
                out.append(pending.frame)
            oldest = next(iter(self._unacked.values()))
            oldest.tries += 1
            if oldest.tries > MAX_RETRIES:
                self.dead = True
            self.rto.backoff()
            self._deadline = now + self.rto.rto
        while self._outbox and len(self._unacked) < self.window:
            msg_type, payload = self._outbox.popleft()
            seq = self._tx_next
            self._tx_next = (seq + 1) & 0xFF
            frame = encode_frame(msg_type, seq, payload)
            self._unacked[seq] = _Outstanding(frame, now, now, epoch=self._epoch)
            if self._deadline is None:
                self._deadline = now + self.rto.rto
            out.append(frame)
        return out

    def _ack_upto(self, next_expected: int, now: float) -> None:
        newest: _Outstanding | None = None
        while self._unacked:
            seq, out = next(iter(self._unacked.items()))
            if not _before(seq, next_expected):
                break
            del self._unacked[seq]
            newest = out
        # Karn's rule, widened: a frame sent before any retransmission still outstanding
        # may have waited behind a hole, so its ACK says nothing about the round trip.
        if newest is not None and not newest.retransmitted and newest.epoch == self._epoch:
            self.rto.sample(now - newest.first_sent)
        if newest is not None:
            self.rto.restore()
            self._deadline = now + self.rto.rto if self._unacked else None

    def on_ack(self, next_expected: int, now: float) -> None:
        """A cumulative ACK: the peer has everything before `next_expected`."""
        self._ack_upto(next_expected, now)

    def on_nak(self, seq: int, now: float) -> list[bytes]:
        """The peer lacks `seq` (and has all before): resend it unless just resent."""
        self._ack_upto(seq, now)
        out = self._unacked.get(seq)
        # The NAK may have been sent before our last resend arrived: allow one round trip.
        holdoff = max(NAK_HOLDOFF, min(self.rto.srtt or 0.0, self.rto.rto))
        if out is None or (out.retransmitted and now - out.last_sent < holdoff):
            return []
        out.retransmitted = True
        out.last_sent = now
        self._epoch += 1
        self.retransmits += 1
        return [out.frame]

    # -- receiver -----------------------------------------------------------
    def on_data(self, frame: Frame) -> tuple[list[Frame], list[bytes]]:
        """A sequenced frame arrived: return (frames now deliverable in order, replies)."""
        delta = (frame.seq - self._rx_expected) & 0xFF
        if delta == 0:
            delivered = [frame]
            self._rx_expected = (self._rx_expected + 1) & 0xFF
            while self._rx_expected in self._rx_buffer:
                delivered.append(self._rx_buffer.pop(self._rx_expected))
                self._rx_expected = (self._rx_expected + 1) & 0xFF
            if self._rx_buffer:  # another hole behind this one
                return delivered, [self._nak()]
            return delivered, [encode_frame(ACK, self._rx_expected)]
        if delta < self.window:
            self._rx_buffer.setdefault(frame.seq, frame)
            return [], [self._nak()]
        # A duplicate of something already delivered: re-ACK so the sender moves on.
        return [], [encode_frame(ACK, self._rx_expected)]

    def on_corrupt(self, frame: CorruptFrame) -> list[bytes]:
        """A sequenced frame failed its CRC: ask for the next one we need.

        Every gap or corrupt frame NAKs (a NAK is 10 bytes); the sender ignores NAKs
        for a frame it resent less than a round trip ago, which stops NAK storms.
        """
        if is_sequenced(frame.msg_type):
            return [self._nak()]
        return []

    def _nak(self) -> bytes:
        return encode_frame(NAK, self._rx_expected)
