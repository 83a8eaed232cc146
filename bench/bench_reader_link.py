"""Benchmark of the reader link over a real pty (not a test; prints figures).

    .venv/bin/python bench/bench_reader_link.py [--quick] [--seconds S]

Goodput of firmware bytes to the bootloader (acknowledged), at bit-error rates 0, 1e-4,
1e-3 and 3e-3, for three pairings measured in the same run:

- v2: this host with a version-2 reader (SACK, Reed–Solomon, adaptive frames);
- v1 adaptive: this host with a version-1 reader (it falls back to version 1 and only
  the chunk size adapts);
- v1 fixed 240: a version-1 host and reader with 240-byte chunks, the link as it was
  before version 2 (the same-run baseline).

Each figure is given as a share of the line rate and as a ratio to the same pairing's
clean goodput. Also: request round trip (p50/p95) and a 256 KB firmware update.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from drivers.reader import BridgeTestReader
from drivers.reader.serial_reader import adaptive_chunk_bytes
from drivers.reader.sim.reader import SimulatorProcess
from readerlink.errors import LinkError
from readerlink.firmware_image import build_test_image, sign_image
from readerlink.host import ReaderLink
from readerlink.messages import FwBegin, MsgType

BAUD = 115200
LINE_BYTES_S = BAUD / 10
KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
BERS = (0.0, 1e-4, 1e-3, 3e-3)
# name, firmware version, host version, fixed chunk (None: adaptive)
PAIRINGS = (
    ("v2", 2, 2, None),
    ("v1 adaptive", 1, 2, None),
    ("v1 fixed 240", 1, 1, 240),
)


class Rig:
    """A simulator child (as firmware version `fw`) and a host link (offering `host`)."""

    def __init__(self, tmp: Path, fw: int, host: int, ber: float) -> None:
        self.sim = SimulatorProcess(
            tmp / "ttyREADER",
            baudrate=BAUD,
            time_scale=60,
            extra_args=[
                "--trusted-key",
                PUB,
                "--protocol-version",
                str(fw),
                "--bit-error-rate",
                str(ber),
                "--seed",
                "3",
            ],
        )
        path = self.sim.start()
        self.link = ReaderLink(os.fspath(path), BAUD, request_timeout=20, protocol_version=host)
        try:
            self.link.open(timeout=30)
        except LinkError:
            self.sim.stop()
            raise

    def close(self) -> None:
        self.link.close()
        self.sim.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def round_trip(link: ReaderLink, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        link.request(MsgType.HEALTH)
        times.append(time.perf_counter() - t)
    q = statistics.quantiles(times, n=20)
    return statistics.median(times), q[18]


def stream(link: ReaderLink, seconds: float, chunk: int | None) -> tuple[float, float]:
    """Image bytes per second acknowledged by the bootloader over about `seconds`,
    and the mean chunk size used."""
    size = 1024 * 1024
    fw = sign_image(build_test_image("9.9.9", size), "9.9.9", KEY)
    link.request(MsgType.FW_BEGIN, FwBegin(size, fw.sha256, fw.signature, "9.9.9").pack())
    session = link.session
    sizes: list[int] = []
    t = time.perf_counter()
    offset = 0
    while time.perf_counter() - t < seconds and offset < size:
        n = chunk or adaptive_chunk_bytes(link)
        payload = struct.pack("<I", offset) + fw.image[offset : offset + n]
        link.send(MsgType.FW_CHUNK, payload, session, timeout=60)
        sizes.append(n)
        offset += n
    link.wait_acked(session, timeout=300)
    return offset / (time.perf_counter() - t), statistics.mean(sizes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter transfers")
    ap.add_argument("--seconds", type=float, help="seconds of streaming per figure")
    a = ap.parse_args()
    seconds = a.seconds or (4.0 if a.quick else 10.0)
    print(f"reader link over a real pty at {BAUD} baud (line rate {LINE_BYTES_S:.0f} B/s)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results: dict[str, dict[float, float]] = {}
        for name, fw, host, chunk in PAIRINGS:
            results[name] = {}
            for ber in BERS:
                try:
                    with Rig(tmp, fw, host, ber) as rig:
                        rate, mean_chunk = stream(rig.link, seconds, chunk)
                        st = rig.link.stats()
                except LinkError as exc:
                    print(f"{name:13s} BER {ber:<6g}: link failed ({exc})")
                    results[name][ber] = 0.0
                    continue
                results[name][ber] = rate
                clean = results[name][0.0]
                print(
                    f"{name:13s} BER {ber:<6g}: {rate:6.0f} B/s = "
                    f"{rate / LINE_BYTES_S:6.1%} of line, "
                    f"{rate / clean:6.1%} of clean; chunk {mean_chunk:5.1f} B, "
                    f"protocol {st['protocol_version']:.0f}, host measured byte error rate "
                    f"{st['rx_byte_error_rate']:.2e}, {st['corrected_bytes']:.0f} bytes corrected, "
                    f"{st['retransmits']:.0f} resends"
                )
        print()
        print("summary: goodput as share of line rate / ratio to the same pairing's clean")
        print(f"{'BER':>8s}" + "".join(f"{n:>24s}" for n, *_ in PAIRINGS))
        for ber in BERS:
            row = f"{ber:8g}"
            for name, *_ in PAIRINGS:
                r = results[name]
                row += f"{r[ber] / LINE_BYTES_S:>15.1%} / {r[ber] / r[0.0]:6.1%}"
            print(row)
        v2, old = results["v2"], results["v1 fixed 240"]
        print(
            f"v2 against the old link in the same run: clean {v2[0.0] / old[0.0]:.2f}x, "
            f"BER 1e-3 {v2[1e-3] / max(1.0, old[1e-3]):.1f}x"
        )

        with Rig(tmp, 2, 2, 0.0) as rig:
            p50, p95 = round_trip(rig.link, 300)
            print(
                f"request round trip (HEALTH, 300x): p50 {p50 * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"
            )
            reader = BridgeTestReader(rig.link)
            fw_size = 64 * 1024 if a.quick else 256 * 1024
            image = sign_image(build_test_image("2.0.0", fw_size), "2.0.0", KEY)
            t = time.perf_counter()
            info = reader.flash_firmware(image)
            total = time.perf_counter() - t
            limit = fw_size / LINE_BYTES_S
            print(
                f"firmware image {fw_size // 1024} KB flashed and rebooted into "
                f"{info.firmware_version} in {total:.1f} s; line-rate limit {limit:.1f} s "
                f"({limit / total:.1%} of it)"
            )


if __name__ == "__main__":
    main()
