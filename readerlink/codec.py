"""Frame codec of the reader link (docs/protocol.md, "Framing"): pure, no I/O.

    A5 5A | LEN | SEQ | TYPE | HCRC | PAYLOAD (LEN bytes) | CRC-32C (4 bytes, LE)

HCRC is CRC-8/SMBUS over LEN, SEQ, TYPE; CRC-32C covers LEN..PAYLOAD.
"""

from __future__ import annotations

from dataclasses import dataclass

from readerlink.crc import crc8_smbus, crc32c
from readerlink.errors import FrameError

SYNC = b"\xa5\x5a"
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


class FrameDecoder:
    """Streaming decoder that resynchronises on the sync pattern after any garbage.

    On a bad frame only its first byte is dropped and the buffer is scanned again, so
    a good frame that a corrupted length swallowed is still found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.garbage_bytes = 0
        self.crc_errors = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget any partial frame (after a reopen of the port)."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame | CorruptFrame]:
        """Add received bytes; return the frames (and corrupt-frame notices) completed."""
        buf = self._buf
        buf += data
        out: list[Frame | CorruptFrame] = []
        while True:
            i = buf.find(SYNC)
            if i < 0:
                keep = 1 if buf and buf[-1] == SYNC[0] else 0
                self.garbage_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if i:
                self.garbage_bytes += i
                del buf[:i]
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
                out.append(CorruptFrame(buf[4], buf[3]))
                del buf[:1]
                continue
            out.append(Frame(buf[4], buf[3], bytes(buf[HEADER_LEN:end])))
            self.frames += 1
            del buf[:total]
        return out
