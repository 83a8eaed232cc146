"""Issuance benchmarks: pipeline latency, bytes per real certificate label, durable rate.

1. The issue pipeline (validate, commit with synchronous=FULL, sign, lay out, encode
   for the configured printer) over N certificates: p50 and p95. Target p95 <= 30 ms.
2. Bytes per certificate label for each printer profile and paper, and the time on the
   wire at 9600 and 115200 baud (8N1: 10 bits per byte). Target <= 2 KB where native.
3. Durable issuance rate with synchronous=FULL, certificates per second, against the
   same run with synchronous=NORMAL as the baseline (what FULL costs).

Run: ``.venv/bin/python bench/bench_issuance.py [--count 200]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.compose import open_kiosk
from drivers.fonts import find_cjk_font
from drivers.printer.base import LabelPrinter, PrinterStatus
from drivers.printer.factory import make_encoder
from drivers.printer.profiles import get_profile
from kiosk.config import load_config
from kiosk.domain.model import Basis, CertificateRequest, Issuer
from kiosk.services.kiosk import Kiosk

PROFILE_PAPERS = [
    ("tspl-60x40", "label-60x40"),
    ("tspl-60x40-raster", "label-60x40"),
    ("escpos-80-native", "roll-80"),
    ("escpos-80-raster", "roll-80"),
    ("escpos-58-native", "roll-58"),
    ("escpos-58-raster", "roll-58"),
]


class EncodingPrinter(LabelPrinter):
    """Encodes each label for a real profile and drops the bytes: no wire, no simulator."""

    def __init__(self, profile: str) -> None:
        self.encoder = make_encoder(get_profile(profile), find_cjk_font())
        self.sizes: list[int] = []

    def status(self) -> PrinterStatus:
        return PrinterStatus()

    def print_label(self, document, copies=1, progress=None) -> None:  # type: ignore[override]
        self.sizes.append(len(self.encoder.encode(document).first))

    def close(self) -> None:
        pass


def request(i: int) -> CertificateRequest:
    return CertificateRequest(
        issuer=Issuer("杭州绿源蔬菜专业合作社", f"138{i:08d}"[:11]),
        product_code="V001",
        quantity=f"{10 + i % 90}.5",
        unit="公斤",
        origin="浙江省杭州市示范镇示范村三组",
        basis=Basis.COMMISSIONED_TEST,
        test_ref=f"RT-K001-{i:06d}",
        lab_name="杭州市农产品质量检测中心",
        inputs_used=("organophosphate", "carbamate"),
    )


def open_bench_kiosk(data: Path, profile: str, paper: str, synchronous: str = "FULL") -> Kiosk:
    config = load_config(None, data_dir=data)
    config = config.model_copy(
        update={"printer": config.printer.model_copy(update={"profile": profile, "paper": paper})}
    )
    kiosk = open_kiosk(config, printer=EncodingPrinter(profile))
    kiosk.store.conn.execute(f"PRAGMA synchronous={synchronous}")
    return kiosk


def pipeline(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, open_bench_kiosk(Path(tmp), *PROFILE_PAPERS[0]) as k:
        k.issuance.issue(request(0))  # warm caches (fonts, QR tables)
        times = []
        for i in range(1, count + 1):
            start = time.perf_counter()
            k.issuance.issue(request(i))
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * len(times)) - 1]
    verdict = "OK" if p95 <= 30 else "OVER TARGET"
    print(
        f"pipeline over {count} certificates (tspl-60x40): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms  [target p95 <= 30 ms: {verdict}]"
    )


def bytes_per_label() -> None:
    print(f"\n{'profile':<20}{'paper':<13}{'bytes':>8}{'9600 baud s':>13}{'115200 baud s':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for n, (profile, paper) in enumerate(PROFILE_PAPERS):
            with open_bench_kiosk(Path(tmp) / str(n), profile, paper) as k:
                k.issuance.issue(request(1))
                size = k.printer.sizes[-1]  # type: ignore[attr-defined]
            print(f"{profile:<20}{paper:<13}{size:>8}{size * 10 / 9600:>13.2f}"
                  f"{size * 10 / 115200:>15.3f}")  # fmt: skip


def durable_rate(count: int) -> None:
    rates = {}
    for mode in ("NORMAL", "FULL"):
        with (
            tempfile.TemporaryDirectory() as tmp,
            open_bench_kiosk(Path(tmp), "tspl-60x40", "label-60x40", mode) as k,
        ):
            start = time.perf_counter()
            for i in range(count):
                k.issuance.issue(request(i))
            rates[mode] = count / (time.perf_counter() - start)
    print(f"\ndurable issuance: {rates['FULL']:.0f} certificates/s with synchronous=FULL; "
          f"{rates['NORMAL']:.0f}/s with NORMAL (baseline); ratio FULL/NORMAL "
          f"{rates['FULL'] / rates['NORMAL']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    pipeline(args.count)
    bytes_per_label()
    durable_rate(args.count)


if __name__ == "__main__":
    main()
