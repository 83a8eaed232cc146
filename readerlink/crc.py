"""Checksums of the reader link.

CRC-32C (Castagnoli) guards each frame: it detects every burst of up to 32 bits and
has a Hamming distance of 6 for frames of our size, which a 1e-3 bit-error line needs.
It comes from the ``crc32c`` package, which uses the CPU's CRC32C instructions (SSE 4.2
on x86, the ARMv8 CRC extension on a Pi 4/5) and a C fallback elsewhere: the host
checks every frame and every run digest with it, so it sits on the hot path.

CRC-8/SMBUS guards the three header bytes so a false sync with a bogus length is
rejected at once instead of swallowing the frames behind it. It stays a 256-entry
table here: over three bytes no library call is faster (bench/bench_crc.py).
"""

from __future__ import annotations

from crc32c import crc32c as _crc32c

CRC32C_CHECK = 0xE3069283  # crc32c(b"123456789")
CRC8_SMBUS_CHECK = 0xF4  # crc8_smbus(b"123456789")


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (reflected, init and xorout 0xFFFFFFFF); pass `crc` to continue a running sum."""
    return _crc32c(data, crc)


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_T8 = _crc8_table()


def crc8_smbus(data: bytes | bytearray | memoryview) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0, not reflected)."""
    c = 0
    table = _T8
    for b in data:
        c = table[c ^ b]
    return c
