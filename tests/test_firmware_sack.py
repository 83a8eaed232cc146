"""Link protocol version 2 at the frame level: SACK, Reed–Solomon coded frames and the
adaptation of parity and frame size to the measured error rate. Deterministic: every
error pattern comes from a seeded generator."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from readerlink import arq
from readerlink.adapt import ErrorMeter, choose_nsym, plan
from readerlink.arq import ArqEndpoint, unpack_sack
from readerlink.codec import (
    CorruptFrame,
    Frame,
    FrameDecoder,
    encode_coded_frame,
    encode_frame,
)

BER_1E3_BYTE = 1 - (1 - 1e-3) ** 8  # byte error rate of a 1e-3 bit-error line


def _flip_bits(frame: bytes, ber: float, rng: random.Random) -> bytes:
    """Flip each bit with probability `ber` (geometric gaps, as the simulator's line)."""
    buf = bytearray(frame)
    pos = rng.expovariate(ber) if ber > 0 else float("inf")
    while pos < len(buf) * 8:
        bit = int(pos)
        buf[bit // 8] ^= 1 << (bit % 8)
        pos += 1 + rng.expovariate(ber)
    return bytes(buf)


def _v2_pair() -> tuple[ArqEndpoint, ArqEndpoint, FrameDecoder, FrameDecoder]:
    da, db = FrameDecoder(coded=True), FrameDecoder(coded=True)
    a, b = ArqEndpoint(meter=da.meter), ArqEndpoint(meter=db.meter)
    a.set_version(2)
    b.set_version(2)
    return a, b, da, db


def _pump(version: int, ber: float, seed: int, n: int, size: int = 200) -> dict:
    """Move n messages a -> b over a channel flipping bits at `ber` both ways."""
    rng = random.Random(seed)
    if version == 2:
        a, b, da, db = _v2_pair()
    else:
        da, db = FrameDecoder(), FrameDecoder()
        a, b = ArqEndpoint(meter=da.meter), ArqEndpoint(meter=db.meter)
    decoders = {id(a): da, id(b): db}
    messages = [rng.randbytes(size - 4) + i.to_bytes(4, "little") for i in range(n)]
    for m in messages:
        a.enqueue(0x32, m)
    got: list[bytes] = []
    now, wire = 0.0, []
    line_bytes = 0
    for _ in range(400_000):
        now += 0.001
        for frame in a.poll(now):
            line_bytes += len(frame)
            wire.append((now + 0.003, b, frame))
        due = [w for w in wire if w[0] <= now]
        wire = [w for w in wire if w[0] > now]
        for _, dst, frame in due:
            other = a if dst is b else b
            for item in decoders[id(dst)].feed(_flip_bits(frame, ber, rng)):
                replies: list[bytes] = []
                if isinstance(item, CorruptFrame):
                    replies = dst.on_corrupt(item)
                elif item.msg_type == arq.ACK:
                    dst.on_ack(item.seq, now)
                elif item.msg_type == arq.NAK:
                    replies = dst.on_nak(item.seq, now)
                elif item.msg_type == arq.SACK:
                    replies = dst.on_sack(item.seq, item.payload, now)
                else:
                    delivered, replies = dst.on_data(item)
                    got += [f.payload for f in delivered]
                wire += [(now + 0.003, other, r) for r in replies]
        if len(got) == n and a.pending == 0:
            break
    return {
        "got": got,
        "sent": messages,
        "retransmits": a.retransmits,
        "corrected": db.corrected_bytes,
        "line_bytes": line_bytes,
        "dead": a.dead,
        "b_meter": db.meter.rate,
    }


# -- SACK ------------------------------------------------------------------
def test_sack_names_the_frames_held_and_only_the_hole_is_resent() -> None:
    a, b, _, db = _v2_pair()
    for i in range(5):
        a.enqueue(0x32, bytes([i]) * 20)
    frames = a.poll(0.0)
    assert len(frames) == 5
    replies: list[bytes] = []
    for k in (0, 2, 3, 4):  # frame 1 is lost on the line
        (item,) = db.feed(frames[k])
        assert isinstance(item, Frame)
        delivered, replies = b.on_data(item)
    (sack,) = FrameDecoder(coded=True).feed(replies[-1])
    assert isinstance(sack, Frame) and sack.msg_type == arq.SACK and sack.seq == 1
    info = unpack_sack(sack.payload)
    assert info is not None and info.flags & arq.SACK_NAK
    assert info.bitmap == 0b111  # seq 2, 3, 4 held beyond the hole at 1
    resent = a.on_sack(sack.seq, sack.payload, 0.01)
    assert resent == [frames[1]]  # the hole, and nothing the peer already holds
    assert a.pending == 4  # 0 released; 1..4 outstanding until the hole fills
    (item,) = db.feed(resent[0])
    delivered, replies = b.on_data(item)
    assert [f.payload[0] for f in delivered] == [1, 2, 3, 4]
    (ack,) = FrameDecoder(coded=True).feed(replies[0])
    a.on_sack(ack.seq, ack.payload, 0.02)
    assert a.pending == 0


def test_timeout_resends_only_frames_the_peer_does_not_hold() -> None:
    a, b, _, db = _v2_pair()
    for i in range(4):
        a.enqueue(0x32, bytes([i]) * 20)
    frames = a.poll(0.0)
    replies: list[bytes] = []
    for k in (1, 3):  # 0 and 2 lost
        (item,) = db.feed(frames[k])
        _, replies = b.on_data(item)
    (sack,) = FrameDecoder(coded=True).feed(replies[-1])
    a.on_sack(sack.seq, sack.payload, 0.001)  # resends 0 and 2 once
    resent = a.poll(10.0)  # and they were lost again: the timer fires
    assert sorted(resent) == sorted([frames[0], frames[2]])


def test_v1_endpoint_still_answers_ack_and_nak() -> None:
    b = ArqEndpoint()
    _, replies = b.on_data(Frame(0x40, 1, b"x"))  # out of order: NAK(0)
    (nak,) = FrameDecoder().feed(replies[0])
    assert nak.msg_type == arq.NAK and nak.seq == 0
    _, replies = b.on_data(Frame(0x40, 0, b"y"))
    (ack,) = FrameDecoder().feed(replies[0])
    assert ack.msg_type == arq.ACK and ack.seq == 2


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([0.0, 1e-4, 1e-3, 3e-3]), st.integers(0, 2**32))
def test_v2_delivery_is_exactly_once_and_in_order(ber: float, seed: int) -> None:
    r = _pump(2, ber, seed, 60)
    assert r["got"] == r["sent"] and not r["dead"]


def test_at_ber_1e3_v2_moves_the_same_data_with_far_fewer_resends_than_v1() -> None:
    v1 = _pump(1, 1e-3, 11, 80)
    v2 = _pump(2, 1e-3, 11, 80)
    assert v1["got"] == v1["sent"] and v2["got"] == v2["sent"]
    assert v2["corrected"] > 0  # Reed–Solomon repaired frames instead of resending them
    assert v2["retransmits"] * 3 < v1["retransmits"], (v1["retransmits"], v2["retransmits"])
    assert v2["line_bytes"] < v1["line_bytes"]


# -- FEC -------------------------------------------------------------------
def test_coded_frame_corrects_up_to_half_its_parity() -> None:
    rng = random.Random(5)
    payload = rng.randbytes(200)
    clean = encode_coded_frame(0x32, 9, payload, 16)
    dirty = bytearray(clean)
    for pos in rng.sample(range(7, len(dirty)), 8):  # t = 8 byte errors in the body
        dirty[pos] ^= rng.randrange(1, 256)
    dec = FrameDecoder(coded=True)
    (frame,) = dec.feed(bytes(dirty))
    assert frame == Frame(0x32, 9, payload, 8)
    assert dec.corrected_bytes == 8 and dec.crc_errors == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=255), st.sampled_from([4, 8, 16, 32]), st.integers(0, 2**32))
def test_coded_frame_never_yields_wrong_bytes(payload: bytes, nsym: int, seed: int) -> None:
    rng = random.Random(seed)
    raw = bytearray(encode_coded_frame(0x40, 3, payload, nsym))
    for _ in range(rng.randrange(0, 3 * nsym)):
        raw[rng.randrange(len(raw))] ^= rng.randrange(1, 256)
    for item in FrameDecoder(coded=True).feed(bytes(raw)):
        if isinstance(item, Frame):  # repaired, or not at all: never different bytes
            assert (item.msg_type, item.seq, item.payload) == (0x40, 3, payload)


def test_a_version_1_decoder_takes_coded_frames_for_garbage() -> None:
    coded = encode_coded_frame(0x32, 0, b"new", 8)
    plain = encode_frame(0x01, 4)
    items = FrameDecoder(coded=False).feed(coded + plain)
    assert [(i.msg_type, i.seq) for i in items] == [(0x01, 4)]


# -- adaptation ------------------------------------------------------------
def test_meter_converges_on_the_line_byte_error_rate() -> None:
    rng = random.Random(3)
    dec = FrameDecoder(coded=True)
    for i in range(600):
        frame = encode_coded_frame(0x32, i & 0xFF, rng.randbytes(200), 16)
        dec.feed(_flip_bits(frame, 1e-3, rng))
    assert 0.7 * BER_1E3_BYTE < dec.meter.rate < 1.3 * BER_1E3_BYTE, dec.meter.rate


def test_meter_on_uncoded_frames_converges_from_failures_alone() -> None:
    rng = random.Random(4)
    dec = FrameDecoder()
    for i in range(3000):
        dec.feed(_flip_bits(encode_frame(0x32, i & 0xFF, rng.randbytes(60)), 1e-3, rng))
    assert 0.6 * BER_1E3_BYTE < dec.meter.rate < 1.4 * BER_1E3_BYTE, dec.meter.rate


def test_meter_forgets_a_noisy_spell() -> None:
    meter = ErrorMeter()
    for _ in range(100):
        meter.good(250, 2)
    assert meter.rate > 5e-3
    for _ in range(400):  # 100 KB of clean line later
        meter.good(250)
    assert meter.rate < 1e-4


def test_plan_follows_the_rate() -> None:
    clean = plan(0.0, coded=True, max_payload=244)
    assert clean.nsym == 0 and clean.payload == 244
    noisy = plan(BER_1E3_BYTE, coded=True, max_payload=244)
    assert noisy.nsym > 0 and noisy.payload > 200 and noisy.efficiency > 0.8
    worse = plan(3 * BER_1E3_BYTE, coded=True, max_payload=244)
    assert worse.nsym > noisy.nsym
    # A version-1 peer takes no parity: only the frame shrinks.
    old = plan(BER_1E3_BYTE, coded=False, max_payload=244)
    assert old.nsym == 0 and 16 <= old.payload <= 64
    assert choose_nsym(0.0, 200) == 0 and choose_nsym(BER_1E3_BYTE, 200) > 0


def test_sender_codes_for_the_rate_the_peer_reports() -> None:
    a, b, _, db = _v2_pair()
    a.enqueue(0x32, bytes(200))
    (first,) = a.poll(0.0)
    assert first[:2] == b"\xa5\x5a"  # nothing measured yet: a plain frame
    for _ in range(50):  # b hears a noisy line and says so in its SACK
        db.meter.good(250, 2)
    (item,) = db.feed(first)
    _, replies = b.on_data(item)
    (sack,) = FrameDecoder(coded=True).feed(replies[0])
    a.on_sack(sack.seq, sack.payload, 0.01)
    assert a.tx_error_rate > 5e-3
    a.enqueue(0x32, bytes(200))
    (second,) = a.poll(0.02)
    assert second[:2] == b"\xa5\x5c" and second[5] >= 8  # coded, with parity
