"""ARQ engine: RFC 6298 timer, and exactly-once in-order delivery over a lossy channel."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from readerlink import arq
from readerlink.arq import ArqEndpoint, RtoEstimator
from readerlink.codec import CorruptFrame, Frame, FrameDecoder


def test_rto_follows_rfc6298() -> None:
    est = RtoEstimator()
    assert est.rto == arq.RTO_INITIAL
    est.sample(0.1)  # first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR
    assert est.srtt == 0.1 and abs(est.rto - 0.3) < 1e-9
    est.sample(0.1)
    assert abs(est.rttvar - 0.0375) < 1e-9 and abs(est.rto - 0.25) < 1e-9
    for _ in range(200):
        est.sample(0.001)
    assert est.rto == arq.RTO_MIN
    for _ in range(20):
        est.backoff()
    assert est.rto == arq.RTO_MAX


def _pump(a: ArqEndpoint, b: ArqEndpoint, loss: float, rng: random.Random, n: int) -> list[bytes]:
    """Run both ends over a channel that corrupts frames at `loss`; collect b's deliveries."""
    decoders = {id(a): FrameDecoder(), id(b): FrameDecoder()}
    got: list[bytes] = []
    now = 0.0
    wire: list[tuple[float, ArqEndpoint, bytes]] = []
    for i in range(n):
        a.enqueue(0x40, i.to_bytes(4, "little"))
    for _ in range(200_000):
        now += 0.001
        for frame in a.poll(now):
            wire.append((now + 0.003, b, frame))
        due = [w for w in wire if w[0] <= now]
        wire = [w for w in wire if w[0] > now]
        for _, dst, frame in due:
            if rng.random() < loss:
                frame = bytearray(frame)
                frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
            for item in decoders[id(dst)].feed(bytes(frame)):
                other = a if dst is b else b
                replies: list[bytes] = []
                if isinstance(item, CorruptFrame):
                    replies = dst.on_corrupt(item)
                elif item.msg_type == arq.ACK:
                    dst.on_ack(item.seq, now)
                elif item.msg_type == arq.NAK:
                    replies = dst.on_nak(item.seq, now)
                else:
                    delivered, replies = dst.on_data(item)
                    got += [f.payload for f in delivered]
                wire += [(now + 0.003, other, r) for r in replies]
        if len(got) == n and a.pending == 0:
            break
    return got


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.4), st.integers(0, 2**32))
def test_delivery_is_exactly_once_and_in_order(loss: float, seed: int) -> None:
    a, b = ArqEndpoint(), ArqEndpoint()
    got = _pump(a, b, loss, random.Random(seed), 300)
    assert got == [i.to_bytes(4, "little") for i in range(300)]
    assert not a.dead


def test_sequence_numbers_wrap() -> None:
    a, b = ArqEndpoint(), ArqEndpoint()
    got = _pump(a, b, 0.0, random.Random(1), 600)
    assert len(got) == 600 and got[-1] == (599).to_bytes(4, "little")


def test_duplicate_is_reacked_not_redelivered() -> None:
    b = ArqEndpoint()
    delivered, _ = b.on_data(Frame(0x40, 0, b"x"))
    assert len(delivered) == 1
    delivered, replies = b.on_data(Frame(0x40, 0, b"x"))
    assert delivered == [] and len(replies) == 1
