"""Frame codec of the reader link (docs/protocol.md, "Framing"): pure, no I/O.

    A5 5A | LEN | SEQ | TYPE | HCRC | PAYLOAD (LEN bytes) | CRC-32C (4 bytes, LE)

HCRC is CRC-8/SMBUS over LEN, SEQ, TYPE; CRC-32C covers LEN..PAYLOAD.

Version 2 adds the coded frame, which only a peer that negotiated version 2 is sent:

    A5 5C | LEN | SEQ | TYPE | NSYM | HCRC | RS(PAYLOAD | CRC-32C), NSYM parity per codeword

The Reed–Solomon code comes from `reedsolo` (a maintained, tested codec; a
hand-written GF(2^8) decoder is exactly the kind of code that hides rare bugs). Its
pure-Python decoder costs a few milliseconds per codeword, so the receiver checks the
CRC-32C over the systematic bytes first and decodes only frames that fail it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reedsolo import ReedSolomonError, RSCodec

from readerlink.adapt import MAX_NSYM, NSYM_CHOICES, ErrorMeter, coded_body_len, split_blocks
from readerlink.crc import crc8_smbus, crc32c
from readerlink.errors import FrameError

SYNC = b"\xa5\x5a"
SYNC_CODED = b"\xa5\x5c"
CODED_HEADER_LEN = 7
# GF(2^8) with primitive polynomial 0x11D, generator 2, first consecutive root 0:
# reedsolo's defaults, written down so the firmware can match them byte for byte.
RS_PRIM = 0x11D
RS_FCR = 0
_CODECS: dict[int, RSCodec] = {}


def _codec(nsym: int) -> RSCodec:
    # reedsolo fills module-level tables when a codec is built; build them all at import
    # so no thread ever does that while another encodes.
    return _CODECS[nsym]


for _n in range(2, MAX_NSYM + 1, 2):
    _CODECS[_n] = RSCodec(_n, nsize=255, fcr=RS_FCR, prim=RS_PRIM)
HEADER_LEN = 6
TRAILER_LEN = 4
OVERHEAD = HEADER_LEN + TRAILER_LEN
# 255 keeps LEN in one byte and bounds a frame to 265 bytes: at a 1e-3 bit-error rate a
# frame that size still survives about one time in eight, and at 115200 baud it holds
# the line for 23 ms at most, which bounds the wait of a small request behind it.
MAX_PAYLOAD = 255
MAX_FRAME = OVERHEAD + MAX_PAYLOAD


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose header and CRC-32C both checked out."""

    msg_type: int
    seq: int
    payload: bytes
    corrected: int = 0  # bytes the Reed–Solomon decoder repaired (coded frames)


@dataclass(frozen=True, slots=True)
class CorruptFrame:
    """A frame whose header checked out but whose CRC-32C did not: a NAK is worth sending."""

    msg_type: int
    seq: int


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """Build one frame; raises FrameError on out-of-range fields."""
    if not 0 <= msg_type <= 0xFF or not 0 <= seq <= 0xFF:
        raise FrameError(f"type {msg_type} or seq {seq} outside 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = bytes((len(payload), seq, msg_type))
    body = head + bytes((crc8_smbus(head),)) + payload
    return SYNC + body + crc32c(body).to_bytes(4, "little")


def encode_coded_frame(msg_type: int, seq: int, payload: bytes, nsym: int) -> bytes:
    """Build one version-2 coded frame with `nsym` parity bytes per codeword."""
    if not 0 <= msg_type <= 0xFF or not 0 <= seq <= 0xFF:
        raise FrameError(f"type {msg_type} or seq {seq} outside 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if nsym not in _CODECS:
        raise FrameError(f"NSYM {nsym} is not an even number in 2..{MAX_NSYM}")
    head = bytes((len(payload), seq, msg_type, nsym))
    data = payload + crc32c(head + payload).to_bytes(4, "little")
    parts = [SYNC_CODED, head, bytes((crc8_smbus(head),))]
    codec, pos = _codec(nsym), 0
    for size in split_blocks(len(data), nsym):
        parts.append(bytes(codec.encode(data[pos : pos + size])))
        pos += size
    return b"".join(parts)


def encode_adaptive(msg_type: int, seq: int, payload: bytes, nsym: int) -> bytes:
    """A coded frame, or the plain frame when no parity is wanted (one byte shorter)."""
    if nsym == 0:
        return encode_frame(msg_type, seq, payload)
    return encode_coded_frame(msg_type, seq, payload, nsym)


def coded_frame_len(payload_len: int, nsym: int) -> int:
    return CODED_HEADER_LEN + coded_body_len(payload_len + TRAILER_LEN, nsym)


assert set(NSYM_CHOICES) - {0} <= set(_CODECS)


class FrameDecoder:
    """Streaming decoder that resynchronises on the sync pattern after any garbage.

    On a bad frame only its first byte is dropped and the buffer is scanned again, so
    a good frame that a corrupted length swallowed is still found. With `coded`, it
    also takes version-2 coded frames (a version-1 device never does: to it A5 5C is
    garbage). Every frame whose header checked is counted in `meter`.
    """

    def __init__(self, *, coded: bool = False, meter: ErrorMeter | None = None) -> None:
        self._buf = bytearray()
        self.coded = coded
        self.meter = meter if meter is not None else ErrorMeter()
        self.garbage_bytes = 0
        self.crc_errors = 0
        self.corrected_bytes = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget any partial frame (after a reopen of the port)."""
        self._buf.clear()

    def _find_sync(self) -> int:
        buf = self._buf
        i = buf.find(SYNC)
        if self.coded:
            j = buf.find(SYNC_CODED)
            if j >= 0 and (i < 0 or j < i):
                return j
        return i

    def feed(self, data: bytes) -> list[Frame | CorruptFrame]:
        """Add received bytes; return the frames (and corrupt-frame notices) completed."""
        buf = self._buf
        buf += data
        out: list[Frame | CorruptFrame] = []
        while True:
            i = self._find_sync()
            if i < 0:
                keep = 1 if buf and buf[-1] == SYNC[0] else 0
                self.garbage_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if i:
                self.garbage_bytes += i
                del buf[:i]
            if buf[1] == SYNC_CODED[1]:
                item = self._coded()
                if item is None:
                    break
                if isinstance(item, (Frame, CorruptFrame)):
                    out.append(item)
                continue
            if len(buf) < HEADER_LEN:
                break
            if crc8_smbus(buf[2:5]) != buf[5]:
                self.garbage_bytes += 1
                del buf[:1]
                continue
            length = buf[2]
            total = HEADER_LEN + length + TRAILER_LEN
            if len(buf) < total:
                break
            end = HEADER_LEN + length
            if crc32c(buf[2:end]) != int.from_bytes(buf[end:total], "little"):
                self.crc_errors += 1
                self.meter.failed(total)
                out.append(CorruptFrame(buf[4], buf[3]))
                del buf[:1]
                continue
            out.append(Frame(buf[4], buf[3], bytes(buf[HEADER_LEN:end])))
            self.meter.good(total)
            self.frames += 1
            del buf[:total]
        return out

    def _coded(self) -> Frame | CorruptFrame | object | None:
        """Decode the coded frame at the start of the buffer: None to wait for bytes,
        _SKIP when the sync was false (one byte dropped), else the frame or notice."""
        buf = self._buf
        if len(buf) < CODED_HEADER_LEN:
            return None
        nsym = buf[5]
        if crc8_smbus(buf[2:6]) != buf[6] or nsym not in _CODECS:
            self.garbage_bytes += 1
            del buf[:1]
            return _SKIP
        length, seq, msg_type = buf[2], buf[3], buf[4]
        data_len = length + TRAILER_LEN
        total = coded_frame_len(length, nsym)
        if len(buf) < total:
            return None
        head = bytes(buf[2:6])
        blocks: list[bytearray] = []
        pos = CODED_HEADER_LEN
        for size in split_blocks(data_len, nsym):
            blocks.append(buf[pos : pos + size + nsym])
            pos += size + nsym
        data = b"".join(bytes(b[: len(b) - nsym]) for b in blocks)
        corrected = 0
        if not _crc_ok(head, data):
            # Only now pay for the decoder: most frames on any usable line are intact.
            codec = _codec(nsym)
            try:
                fixed = []
                for block in blocks:
                    message, _, errata = codec.decode(block)
                    fixed.append(bytes(message))
                    corrected += len(errata)
                data = b"".join(fixed)
            except ReedSolomonError:
                data = b""
            if not data or not _crc_ok(head, data):
                self.crc_errors += 1
                self.meter.failed(total)
                del buf[:1]
                return CorruptFrame(msg_type, seq)
            self.corrected_bytes += corrected
        self.meter.good(total, corrected)
        self.frames += 1
        del buf[:total]
        return Frame(msg_type, seq, data[:length], corrected)


_SKIP = object()


def _crc_ok(head: bytes, data: bytes) -> bool:
    return crc32c(head + data[:-TRAILER_LEN]) == int.from_bytes(data[-TRAILER_LEN:], "little")
