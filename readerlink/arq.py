"""Reliable, ordered delivery over the framed link (docs/protocol.md, "Acks and retransmission").

Pure state machine with time passed in, used by both the host and the simulated MCU:
sequence numbers, a send window, cumulative ACKs, NAKs for holes and corrupt frames,
and a retransmission timer whose timeout follows RFC 6298.

Version 2 (negotiated in HELLO, `set_version(2)`): the receiver answers with SACK,
which names every frame it holds beyond the cumulative point and reports the byte
error rate it measures; the sender resends only the holes, keeps a larger window,
and codes each frame with the Reed–Solomon parity that rate calls for.
"""

from __future__ import annotations

import struct
from collections import OrderedDict, deque
from dataclasses import dataclass

from readerlink.adapt import ErrorMeter, choose_nsym
from readerlink.codec import CorruptFrame, Frame, encode_adaptive, encode_frame

# Frames in flight before the sender waits for an ACK. Four 265-byte frames (92 ms at
# 115200 baud) cover the ACK round trip several times over, so the line stays busy;
# a larger window only makes a noisy line resend more. It is far below half the
# 8-bit sequence space, so an old frame can never be taken for a new one.
WINDOW = 4
# Version 2 resends only what is missing, so a wider window no longer costs resends on
# a noisy line; eight full frames (184 ms at 115200 baud) keep the line busy while a
# hole's resend makes its round trip. Its SACK bitmap covers 32 frames.
WINDOW_V2 = 8
# Frames a receiver buffers ahead of a hole, for either version: at least any sender
# window, far below half the sequence space.
RX_WINDOW = 32
SACK_BITMAP_BITS = 32
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
    first_sent: float  # when its first copy has left the line
    last_sent: float  # when its latest copy has left (or will have left) the line
    retransmitted: bool = False
    tries: int = 0
    epoch: int = 0  # retransmissions so far when first sent
    msg_type: int = 0
    payload: bytes = b""
    sacked: bool = False  # the peer holds it beyond a hole (version 2)


# Message ids for the control frames this module emits.
ACK = 0x01
NAK = 0x02
SACK = 0x07
SACK_NAK = 0x01  # SACK flag: a frame was lost or corrupt; resend the first missing one
_SACK = struct.Struct("<BIH")  # flags, bitmap, error rate (ppm)


@dataclass(frozen=True, slots=True)
class SackInfo:
    """A decoded SACK payload."""

    flags: int
    bitmap: int
    error_ppm: int


def unpack_sack(payload: bytes) -> SackInfo | None:
    """The SACK body, or None when it is malformed (then it is ignored)."""
    if len(payload) != _SACK.size:
        return None
    return SackInfo(*_SACK.unpack(payload))


def _before(a: int, b: int) -> bool:
    """True if sequence number a precedes b (modulo 256, within half the space)."""
    return 0 < ((b - a) & 0xFF) < 128


class ArqEndpoint:
    """One side's sender and receiver state. Not thread-safe: the caller holds a lock."""

    def __init__(
        self, window: int = WINDOW, meter: ErrorMeter | None = None, byte_time: float = 0.0
    ) -> None:
        """`byte_time` is the line time of one byte (10 / baud): the timer of a frame
        starts when the frame has left the UART, not when it was queued behind a window
        of full frames (which at 115200 baud is 23 ms each)."""
        self._v1_window = window
        self.byte_time = byte_time
        # The rate of what this side receives, fed by its FrameDecoder: it survives
        # resets, the line does not change because the session did.
        self.meter = meter if meter is not None else ErrorMeter()
        self.retransmits = 0
        self.timeouts = 0
        self.reset()

    def reset(self) -> None:
        """Back to sequence 0 both ways, version 1, nothing in flight (after a link reset)."""
        self.version = 1
        self.window = self._v1_window
        self.peer_ppm: int | None = None
        self.rto = RtoEstimator()
        self._tx_next = 0
        self._unacked: OrderedDict[int, _Outstanding] = OrderedDict()
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._deadline: float | None = None
        self._line_free = 0.0
        self._epoch = 0
        self._rx_expected = 0
        self._rx_buffer: dict[int, Frame] = {}
        self.dead = False

    def set_version(self, version: int) -> None:
        """Switch to the link behaviour of a negotiated protocol version (1 or 2)."""
        self.version = version
        self.window = WINDOW_V2 if version >= 2 else self._v1_window

    @property
    def tx_error_rate(self) -> float:
        """Byte error rate of the direction this side sends on: what the peer reports,
        else what this side hears (a line is usually as noisy both ways)."""
        if self.peer_ppm is not None:
            return self.peer_ppm / 1e6
        return self.meter.rate

    def _encode(self, msg_type: int, seq: int, payload: bytes) -> bytes:
        if self.version < 2:
            return encode_frame(msg_type, seq, payload)
        nsym = choose_nsym(self.tx_error_rate, len(payload))
        return encode_adaptive(msg_type, seq, payload, nsym)

    def _departs(self, now: float, nbytes: int) -> float:
        """When a frame written now has left the line, behind what was written before."""
        self._line_free = max(now, self._line_free) + nbytes * self.byte_time
        return self._line_free

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
            for seq, pending in self._unacked.items():
                if pending.sacked:
                    continue  # the peer holds it; only holes go again (version 2)
                out.append(self._resend(seq, pending, now))
            oldest = next(iter(self._unacked.values()))
            oldest.tries += 1
            if oldest.tries > MAX_RETRIES:
                self.dead = True
            self.rto.backoff()
            self._deadline = max(now, self._line_free) + self.rto.rto
        while self._outbox and len(self._unacked) < self.window:
            msg_type, payload = self._outbox.popleft()
            seq = self._tx_next
            self._tx_next = (seq + 1) & 0xFF
            frame = self._encode(msg_type, seq, payload)
            done = self._departs(now, len(frame))
            self._unacked[seq] = _Outstanding(
                frame, done, done, epoch=self._epoch, msg_type=msg_type, payload=payload
            )
            if self._deadline is None:
                self._deadline = done + self.rto.rto
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
            self.rto.sample(max(0.0, now - newest.first_sent))
        if newest is not None:
            self.rto.restore()
            wait_from = max(now, self._line_free)
            self._deadline = wait_from + self.rto.rto if self._unacked else None

    def on_ack(self, next_expected: int, now: float) -> None:
        """A cumulative ACK: the peer has everything before `next_expected`."""
        self._ack_upto(next_expected, now)

    def _resend(self, seq: int, out: _Outstanding, now: float) -> bytes:
        out.retransmitted = True
        self.retransmits += 1
        if self.version >= 2:
            # Coded afresh: the rate may have risen since, and the resend needs it more.
            out.frame = self._encode(out.msg_type, seq, out.payload)
        out.last_sent = self._departs(now, len(out.frame))
        return out.frame

    def _holdoff(self) -> float:
        # A NAK may have been sent before our last resend arrived: allow one round trip.
        return max(NAK_HOLDOFF, min(self.rto.srtt or 0.0, self.rto.rto))

    def on_nak(self, seq: int, now: float) -> list[bytes]:
        """The peer lacks `seq` (and has all before): resend it unless just resent."""
        self._ack_upto(seq, now)
        out = self._unacked.get(seq)
        if out is None or (out.retransmitted and now - out.last_sent < self._holdoff()):
            return []
        self._epoch += 1
        return [self._resend(seq, out, now)]

    def on_sack(self, next_expected: int, payload: bytes, now: float) -> list[bytes]:
        """A selective ACK: all before `next_expected`, plus the frames in its bitmap.

        Resends the holes only: the frames the peer lacks below the newest it holds,
        and the first missing one when the peer flags a loss.
        """
        sack = unpack_sack(payload)
        if sack is None:
            return []
        self.peer_ppm = sack.error_ppm
        self._ack_upto(next_expected, now)
        newest_held = -1
        for i in range(SACK_BITMAP_BITS):
            if sack.bitmap >> i & 1:
                seq = (next_expected + 1 + i) & 0xFF
                held = self._unacked.get(seq)
                if held is not None:
                    held.sacked = True
                newest_held = i + 1
        if newest_held > 0:
            holes = range(newest_held)  # everything missing below the newest held
        elif sack.flags & SACK_NAK:
            holes = range(1)
        else:
            holes = range(0)
        out: list[bytes] = []
        holdoff = self._holdoff()
        for offset in holes:
            seq = (next_expected + offset) & 0xFF
            pending = self._unacked.get(seq)
            if pending is None or pending.sacked:
                continue
            if pending.retransmitted and now - pending.last_sent < holdoff:
                continue
            out.append(self._resend(seq, pending, now))
        if out:
            self._epoch += 1
        return out

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
            return delivered, [self._ack()]
        if delta < RX_WINDOW:
            self._rx_buffer.setdefault(frame.seq, frame)
            return [], [self._nak()]
        # A duplicate of something already delivered: re-ACK so the sender moves on.
        return [], [self._ack()]

    def on_corrupt(self, frame: CorruptFrame) -> list[bytes]:
        """A sequenced frame failed its CRC: ask for the next one we need.

        Every gap or corrupt frame NAKs (a NAK is 10 bytes); the sender ignores NAKs
        for a frame it resent less than a round trip ago, which stops NAK storms.
        """
        if is_sequenced(frame.msg_type):
            return [self._nak()]
        return []

    def _ack(self) -> bytes:
        if self.version >= 2:
            return self._sack(0)
        return encode_frame(ACK, self._rx_expected)

    def _nak(self) -> bytes:
        if self.version >= 2:
            return self._sack(SACK_NAK)
        return encode_frame(NAK, self._rx_expected)

    def _sack(self, flags: int) -> bytes:
        bitmap = 0
        for seq in self._rx_buffer:
            i = ((seq - self._rx_expected) & 0xFF) - 1
            if 0 <= i < SACK_BITMAP_BITS:
                bitmap |= 1 << i
        body = _SACK.pack(flags, bitmap, self.meter.ppm)
        return self._encode(SACK, self._rx_expected, body)
