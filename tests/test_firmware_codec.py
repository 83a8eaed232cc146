"""Frame codec properties: round trip, corruption detected, resync after garbage."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from readerlink.codec import MAX_FRAME, MAX_PAYLOAD, Frame, FrameDecoder, encode_frame
from readerlink.crc import CRC8_SMBUS_CHECK, CRC32C_CHECK, crc8_smbus, crc32c
from readerlink.errors import FrameError

frames = st.builds(
    Frame,
    msg_type=st.integers(0, 255),
    seq=st.integers(0, 255),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def decode_all(data: bytes, splits: list[int] | None = None) -> list[Frame]:
    dec = FrameDecoder()
    out = []
    cuts = [*sorted(set(splits or [])), len(data)]
    start = 0
    for cut in cuts:
        out += dec.feed(data[start:cut])
        start = cut
    return [f for f in out if isinstance(f, Frame)]


def test_crc_check_values() -> None:
    assert crc32c(b"123456789") == CRC32C_CHECK == 0xE3069283
    assert crc8_smbus(b"123456789") == CRC8_SMBUS_CHECK == 0xF4


def _bitwise_crc32c(data: bytes) -> int:
    """The definition, one bit at a time: what the library must agree with."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


@given(st.binary(max_size=300), st.integers(0, 300))
def test_crc32c_is_the_castagnoli_crc_and_continues_a_running_sum(data, cut) -> None:
    whole = crc32c(data)
    assert whole == _bitwise_crc32c(data)
    assert crc32c(data[cut:], crc32c(data[:cut])) == whole  # how run digests are built
    assert crc32c(bytearray(data)) == crc32c(memoryview(data)) == whole  # decoder buffers


def test_encode_rejects_bad_fields() -> None:
    import pytest

    with pytest.raises(FrameError):
        encode_frame(1, 0, bytes(MAX_PAYLOAD + 1))
    with pytest.raises(FrameError):
        encode_frame(256, 0)


@given(st.lists(frames, min_size=1, max_size=5), st.lists(st.integers(0, 2000), max_size=8))
def test_round_trip_in_any_chunking(items: list[Frame], splits: list[int]) -> None:
    data = b"".join(encode_frame(f.msg_type, f.seq, f.payload) for f in items)
    assert decode_all(data, [s % (len(data) + 1) for s in splits]) == items


@given(frames, st.data())
def test_any_burst_up_to_32_bits_is_detected(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(encode_frame(frame.msg_type, frame.seq, frame.payload))
    pos = data.draw(st.integers(0, len(raw) - 1))
    width = data.draw(st.integers(1, min(4, len(raw) - pos)))
    masks = data.draw(st.lists(st.integers(0, 255), min_size=width, max_size=width))
    if not any(masks):
        masks[0] = 1
    for i, m in enumerate(masks):
        raw[pos + i] ^= m
    assert decode_all(bytes(raw) + bytes(MAX_FRAME)) == []


@settings(max_examples=300)
@given(frames, st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1))
def test_arbitrary_corruption_is_detected(frame: Frame, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(encode_frame(frame.msg_type, frame.seq, frame.payload))
    original = bytes(raw)
    for pos, mask in flips:
        raw[pos % len(raw)] ^= mask
    if bytes(raw) == original:
        return
    # CRC-32C lets through about one corrupted frame in 2**32; none may decode here.
    assert decode_all(bytes(raw) + bytes(MAX_FRAME)) == []


@given(st.binary(max_size=600), frames, st.binary(max_size=300), frames)
def test_resync_after_arbitrary_garbage(
    garbage: bytes, first: Frame, middle: bytes, second: Frame
) -> None:
    data = (
        garbage
        + encode_frame(first.msg_type, first.seq, first.payload)
        + middle
        + encode_frame(second.msg_type, second.seq, second.payload)
        + bytes(MAX_FRAME)  # line idle afterwards: whatever a false header claimed arrives
    )
    assert decode_all(data) == [first, second]


def test_dropped_byte_loses_only_that_frame() -> None:
    a, b = encode_frame(0x10, 1, b"first frame"), encode_frame(0x10, 2, b"second")
    damaged = a[:7] + a[8:]
    assert decode_all(damaged + b) == [Frame(0x10, 2, b"second")]
