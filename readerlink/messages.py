"""Message types and payload layouts of the reader link (docs/protocol.md, "Messages").

Shared by the host and the simulated MCU, like a dictionary both ends agree on.
All integers are little-endian; a `str` is one length byte and that many UTF-8 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from readerlink.errors import PayloadError

# Version 2 adds SACK, Reed–Solomon coded frames and their adaptation (docs/protocol.md,
# "Version 2"); a host offers 2 and falls back to 1 when an older reader refuses it.
PROTOCOL_VERSION = 2
MIN_PROTOCOL_VERSION = 1
NO_RUN = 0xFFFF


class MsgType(IntEnum):
    """Every message type on the wire; a reply is its request's type + 1."""

    ACK = 0x01
    NAK = 0x02
    LINK_RESET = 0x03
    LINK_RESET_ACK = 0x04
    BOOT = 0x05
    HEARTBEAT = 0x06
    SACK = 0x07
    HELLO = 0x10
    HELLO_REPLY = 0x11
    SELF_TEST = 0x12
    SELF_TEST_REPLY = 0x13
    CALIBRATE = 0x14
    CALIBRATE_REPLY = 0x15
    HEALTH = 0x16
    HEALTH_REPLY = 0x17
    ENZYME_START = 0x18
    ENZYME_START_REPLY = 0x19
    STRIP_READ = 0x1A
    STRIP_READ_REPLY = 0x1B
    ABORT = 0x1C
    ABORT_REPLY = 0x1D
    FW_BEGIN = 0x30
    FW_BEGIN_REPLY = 0x31
    FW_CHUNK = 0x32
    FW_COMMIT = 0x34
    FW_COMMIT_REPLY = 0x35
    ENZYME_SAMPLE = 0x40
    STRIP_CHUNK = 0x42
    RUN_DONE = 0x44
    ERROR_EVENT = 0x4F


REQUEST_TYPES = frozenset(
    {
        MsgType.HELLO,
        MsgType.SELF_TEST,
        MsgType.CALIBRATE,
        MsgType.HEALTH,
        MsgType.ENZYME_START,
        MsgType.STRIP_READ,
        MsgType.ABORT,
        MsgType.FW_BEGIN,
        MsgType.FW_COMMIT,
    }
)
EVENT_TYPES = frozenset(
    {MsgType.ENZYME_SAMPLE, MsgType.STRIP_CHUNK, MsgType.RUN_DONE, MsgType.ERROR_EVENT}
)


class Status(IntEnum):
    """Status byte of a reply and code of an ERROR_EVENT."""

    OK = 0
    BAD_REQUEST = 1
    BUSY = 2
    NOT_CALIBRATED = 3
    BAD_CHANNEL = 4
    UNSUPPORTED = 5
    ABORTED = 6
    LAMP_FAULT = 7
    VERSION_MISMATCH = 8
    FW_BAD_SIZE = 20
    FW_BAD_OFFSET = 21
    FW_BAD_HASH = 22
    FW_BAD_SIGNATURE = 23
    FW_NOT_IN_UPDATE = 24
    FW_NO_TRUSTED_KEY = 25
    INTERNAL = 99


class Capability(IntFlag):
    """Capability bits of HELLO_REPLY."""

    ENZYME_412NM = 0x01
    STRIP = 0x02
    FW_UPDATE = 0x04
    TEMP_CONTROL = 0x08


class CalFlag(IntFlag):
    """Calibration-state bits of HELLO_REPLY."""

    BLANK = 0x01
    REFERENCE = 0x02


class BootReason(IntEnum):
    POWER_ON = 0
    WATCHDOG = 1
    RESET = 2
    UPDATE = 3
    ROLLBACK = 4


# -- byte helpers -----------------------------------------------------------


class Reader:
    """Cursor over a payload that raises PayloadError instead of struct.error."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self._pos + size > len(self._data):
            raise PayloadError(f"payload too short for {fmt!r} at offset {self._pos}")
        values = struct.unpack_from("<" + fmt, self._data, self._pos)
        self._pos += size
        return values

    def one(self, fmt: str) -> int | float:
        return self.take(fmt)[0]

    def string(self) -> str:
        (n,) = self.take("B")
        raw = self.raw(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError("string is not UTF-8") from exc

    def raw(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise PayloadError(f"payload too short for {n} bytes at offset {self._pos}")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def rest(self) -> bytes:
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    def end(self) -> None:
        if self._pos != len(self._data):
            raise PayloadError(f"{len(self._data) - self._pos} trailing bytes in payload")


def pack_str(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise PayloadError("string longer than 255 bytes")
    return bytes((len(raw),)) + raw


def channel_mask(channels: list[int] | tuple[int, ...], count: int) -> int:
    """Bit i set for channel i (0-based); raises PayloadError on a bad channel."""
    mask = 0
    for ch in channels:
        if not 0 <= ch < count:
            raise PayloadError(f"channel {ch} outside 0..{count - 1}")
        mask |= 1 << ch
    return mask


def mask_channels(mask: int) -> list[int]:
    return [i for i in range(16) if mask >> i & 1]


# -- payloads ---------------------------------------------------------------


@dataclass(frozen=True)
class HelloReply:
    protocol_version: int
    firmware_version: str
    serial_number: str
    channels: int
    capabilities: Capability
    calibration: CalFlag
    calibration_age_s: int | None
    boot_id: int
    active_slot: int
    boot_reason: BootReason

    def pack(self) -> bytes:
        age = 0xFFFFFFFF if self.calibration_age_s is None else self.calibration_age_s
        return (
            struct.pack("<B", self.protocol_version)
            + pack_str(self.firmware_version)
            + pack_str(self.serial_number)
            + struct.pack(
                "<BHBIIBB",
                self.channels,
                int(self.capabilities),
                int(self.calibration),
                age,
                self.boot_id,
                self.active_slot,
                int(self.boot_reason),
            )
        )

    @classmethod
    def unpack(cls, data: bytes) -> HelloReply:
        r = Reader(data)
        proto = int(r.one("B"))
        fw = r.string()
        serial = r.string()
        ch, caps, cal, age, boot_id, slot, reason = r.take("BHBIIBB")
        r.end()
        return cls(
            proto,
            fw,
            serial,
            ch,
            Capability(caps),
            CalFlag(cal),
            None if age == 0xFFFFFFFF else age,
            boot_id,
            slot,
            BootReason(reason),
        )


@dataclass(frozen=True)
class SelfTestReply:
    failures: int
    lamp_permille: int
    dark_counts: int
    temp_centi: int

    FMT = "HHHh"

    def pack(self) -> bytes:
        return struct.pack("<" + self.FMT, *self.__dict__.values())

    @classmethod
    def unpack(cls, data: bytes) -> SelfTestReply:
        r = Reader(data)
        out = cls(*r.take(cls.FMT))
        r.end()
        return out


SELF_TEST_FAILURES = {
    0x01: "lamp weak",
    0x02: "lamp dead",
    0x04: "dark current high",
    0x08: "temperature out of range",
    0x10: "calibration missing",
}


@dataclass(frozen=True)
class HealthReply:
    lamp_permille: int
    lamp_hours_centi: int
    temp_centi: int
    temp_ok: int

    FMT = "HIhB"

    def pack(self) -> bytes:
        return struct.pack("<" + self.FMT, *self.__dict__.values())

    @classmethod
    def unpack(cls, data: bytes) -> HealthReply:
        r = Reader(data)
        out = cls(*r.take(cls.FMT))
        r.end()
        return out


def pack_channel_values(kind: int, values: dict[int, int]) -> bytes:
    """CALIBRATE_REPLY body: kind u8, n u8, n x (channel u8, value i32)."""
    out = bytearray(struct.pack("<BB", kind, len(values)))
    for ch, value in sorted(values.items()):
        out += struct.pack("<Bi", ch, value)
    return bytes(out)


def unpack_channel_values(data: bytes) -> tuple[int, dict[int, int]]:
    r = Reader(data)
    kind, n = r.take("BB")
    values = {}
    for _ in range(n):
        ch, value = r.take("Bi")
        values[ch] = value
    r.end()
    return kind, values


@dataclass(frozen=True)
class EnzymeSample:
    """One time point of a run: absorbance per channel in micro-absorbance units."""

    run_id: int
    index: int
    t_ms: int
    temp_centi: int
    absorbance_uau: tuple[tuple[int, int], ...]  # (channel, µAU)

    def pack(self) -> bytes:
        out = bytearray(
            struct.pack(
                "<HHIhB",
                self.run_id,
                self.index,
                self.t_ms,
                self.temp_centi,
                len(self.absorbance_uau),
            )
        )
        for ch, value in self.absorbance_uau:
            out += struct.pack("<Bi", ch, value)
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes) -> EnzymeSample:
        r = Reader(data)
        run_id, index, t_ms, temp, n = r.take("HHIhB")
        values = tuple(r.take("Bi") for _ in range(n))
        r.end()
        return cls(run_id, index, t_ms, temp, values)


@dataclass(frozen=True)
class StripChunk:
    run_id: int
    offset: int
    values: tuple[int, ...]

    def pack(self) -> bytes:
        n = len(self.values)
        return struct.pack(f"<HHB{n}H", self.run_id, self.offset, n, *self.values)

    @classmethod
    def unpack(cls, data: bytes) -> StripChunk:
        r = Reader(data)
        run_id, offset, n = r.take("HHB")
        values = r.take(f"{n}H")
        r.end()
        return cls(run_id, offset, tuple(values))


@dataclass(frozen=True)
class RunDone:
    """End of a run: its status, how many events it streamed, and their CRC-32C digest."""

    run_id: int
    status: int
    count: int
    digest: int

    FMT = "HBHI"

    def pack(self) -> bytes:
        return struct.pack("<" + self.FMT, self.run_id, self.status, self.count, self.digest)

    @classmethod
    def unpack(cls, data: bytes) -> RunDone:
        r = Reader(data)
        out = cls(*r.take(cls.FMT))
        r.end()
        return out


@dataclass(frozen=True)
class ErrorEvent:
    code: int
    run_id: int
    message: str

    def pack(self) -> bytes:
        return struct.pack("<HH", self.code, self.run_id) + pack_str(self.message)

    @classmethod
    def unpack(cls, data: bytes) -> ErrorEvent:
        r = Reader(data)
        code, run_id = r.take("HH")
        msg = r.string()
        r.end()
        return cls(code, run_id, msg)


@dataclass(frozen=True)
class Heartbeat:
    boot_id: int
    uptime_ms: int
    state: int
    temp_centi: int

    FMT = "IIBh"

    def pack(self) -> bytes:
        return struct.pack("<" + self.FMT, *self.__dict__.values())

    @classmethod
    def unpack(cls, data: bytes) -> Heartbeat:
        r = Reader(data)
        out = cls(*r.take(cls.FMT))
        r.end()
        return out


@dataclass(frozen=True)
class FwBegin:
    size: int
    sha256: bytes
    signature: bytes
    version: str

    def pack(self) -> bytes:
        if len(self.sha256) != 32 or len(self.signature) != 64:
            raise PayloadError("sha256 must be 32 bytes and signature 64 bytes")
        return struct.pack("<I", self.size) + self.sha256 + self.signature + pack_str(self.version)

    @classmethod
    def unpack(cls, data: bytes) -> FwBegin:
        r = Reader(data)
        size = int(r.one("I"))
        digest = r.raw(32)
        sig = r.raw(64)
        version = r.string()
        r.end()
        return cls(size, digest, sig, version)


def pack_request(req_id: int, body: bytes = b"") -> bytes:
    return struct.pack("<H", req_id) + body


def unpack_request(payload: bytes) -> tuple[int, bytes]:
    r = Reader(payload)
    (req_id,) = r.take("H")
    return req_id, r.rest()


def pack_reply(req_id: int, status: int, body: bytes = b"") -> bytes:
    return struct.pack("<HB", req_id, status) + body


def unpack_reply(payload: bytes) -> tuple[int, int, bytes]:
    r = Reader(payload)
    req_id, status = r.take("HB")
    return req_id, status, r.rest()
