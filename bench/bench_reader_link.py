"""Benchmark of the reader link over a real pty (not a test; prints figures).

    .venv/bin/python bench/bench_reader_link.py [--quick]

Figures: request round trip at 115200 baud (p50/p95); goodput as a share of the line
rate; goodput at a 1e-3 bit-error rate as a share of clean; a 256 KB firmware image
transfer against the line-rate limit.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from drivers.reader import BridgeTestReader, open_test_reader
from readerlink.firmware_image import build_test_image, sign_image
from readerlink.messages import FwBegin, MsgType

BAUD = 115200
KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def reader(tmp: Path, *extra: str) -> BridgeTestReader:
    return open_test_reader(
        "simulated",
        port=tmp / "ttyREADER",
        baudrate=BAUD,
        time_scale=60,
        simulator_args=["--trusted-key", PUB, *extra],
        request_timeout=20,
    )


def round_trip(r: BridgeTestReader, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r.link.request(MsgType.HEALTH)
        times.append(time.perf_counter() - t)
    q = statistics.quantiles(times, n=20)
    return statistics.median(times), q[18]


def stream(r: BridgeTestReader, size: int, chunk: int) -> float:
    """Seconds to move `size` image bytes to the bootloader, acknowledged."""
    fw = sign_image(build_test_image("9.9.9", size), "9.9.9", KEY)
    link = r.link
    link.request(MsgType.FW_BEGIN, FwBegin(size, fw.sha256, fw.signature, "9.9.9").pack())
    session = link.session
    t = time.perf_counter()
    for off in range(0, size, chunk):
        payload = struct.pack("<I", off) + fw.image[off : off + chunk]
        link.send(MsgType.FW_CHUNK, payload, session, timeout=60)
    link.wait_acked(session, timeout=120)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller transfers")
    a = ap.parse_args()
    line_bytes_s = BAUD / 10
    clean_size = 32 * 1024 if a.quick else 64 * 1024
    noisy_size = 8 * 1024 if a.quick else 16 * 1024
    fw_size = 64 * 1024 if a.quick else 256 * 1024
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"reader link over a real pty at {BAUD} baud (line rate {line_bytes_s:.0f} B/s)")
        with reader(tmp) as r:
            p50, p95 = round_trip(r, 300)
            print(
                f"request round trip (HEALTH, 300x): p50 {p50 * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"
            )
            clean = {}
            for chunk in (240, 48):
                secs = stream(r, clean_size, chunk)
                clean[chunk] = clean_size / secs
                print(
                    f"goodput clean, {chunk} B chunks: {clean[chunk]:.0f} B/s = "
                    f"{clean[chunk] / line_bytes_s:.1%} of line rate"
                )
        with reader(tmp, "--bit-error-rate", "1e-3", "--seed", "3") as r:
            for chunk in (240, 48):
                secs = stream(r, noisy_size, chunk)
                rate = noisy_size / secs
                print(
                    f"goodput at BER 1e-3, {chunk} B chunks: {rate:.0f} B/s = "
                    f"{rate / clean[chunk]:.1%} of clean ({rate / line_bytes_s:.1%} of line); "
                    f"host saw {r.link.stats()['crc_errors']} CRC errors so far"
                )
        with reader(tmp) as r:
            fw = sign_image(build_test_image("2.0.0", fw_size), "2.0.0", KEY)
            marks: list[float] = []
            t = time.perf_counter()
            info = r.flash_firmware(
                fw, progress=lambda done, total: marks.append(time.perf_counter())
            )
            total = time.perf_counter() - t
            limit = fw_size / line_bytes_s
            print(
                f"firmware image {fw_size // 1024} KB: chunks handed over in "
                f"{marks[-1] - t:.1f} s, flashed and rebooted into {info.firmware_version} in "
                f"{total:.1f} s; line-rate limit {limit:.1f} s ({limit / total:.1%} of it)"
            )


if __name__ == "__main__":
    main()
