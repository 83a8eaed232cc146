"""Benchmark of the reader link's checksums against the old pure-Python tables (prints figures).

    .venv/bin/python bench/bench_crc.py

The old table-driven CRC-32C is kept here, and only here, as the baseline: each line
prints the time per call of the old and the current implementation over one size the
link really checks (a 3-byte frame header, a 60-byte sample event, a full 265-byte
frame, a 4 KiB block) and their ratio, measured in the same run. CRC-8/SMBUS over the
3-byte header is compared with ``anycrc`` when that package is installed.
"""

from __future__ import annotations

import os
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crc32c as crc32c_package

from readerlink.crc import CRC8_SMBUS_CHECK, CRC32C_CHECK, crc8_smbus, crc32c


def _old_crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_OLD_T32 = _old_crc32c_table()


def old_crc32c(data: bytes, crc: int = 0) -> int:
    """readerlink/crc.py before it used the crc32c package."""
    c = crc ^ 0xFFFFFFFF
    table = _OLD_T32
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def per_call(fn: Callable[[], object]) -> float:
    """Best of five timings, seconds per call."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(5, number)) / number


def main() -> None:
    assert old_crc32c(b"123456789") == crc32c(b"123456789") == CRC32C_CHECK
    print(
        f"crc32c {crc32c_package.__version__}, "
        f"hardware_based={crc32c_package.hardware_based}, {os.uname().machine}"
    )
    for size, what in ((3, "header"), (60, "sample event"), (265, "full frame"), (4096, "4 KiB")):
        data = os.urandom(size)
        assert old_crc32c(data, 7) == crc32c(data, 7)
        old = per_call(lambda data=data: old_crc32c(data))
        new = per_call(lambda data=data: crc32c(data))
        print(
            f"CRC-32C {size:5d} B ({what}): old {old * 1e6:8.2f} us, "
            f"new {new * 1e6:6.3f} us, {old / new:7.1f}x faster"
        )
    header = os.urandom(3)
    table = per_call(lambda: crc8_smbus(header))
    line = f"CRC-8/SMBUS 3 B header: table {table * 1e6:.3f} us"
    try:
        import anycrc
    except ImportError:
        print(line + " (anycrc not installed: no library to compare)")
        return
    model = anycrc.Model("CRC8-SMBUS")
    assert model.calc(b"123456789") == CRC8_SMBUS_CHECK
    lib = per_call(lambda: model.calc(header))
    print(line + f", anycrc {lib * 1e6:.3f} us ({lib / table:.1f}x the table's time)")


if __name__ == "__main__":
    main()
