"""Touch UI benchmarks (SDL_VIDEODRIVER=dummy unless a display is set).

1. Idle CPU on the home screen over ``--idle`` seconds (default 30): the loop must wait,
   not spin. Target <= 2 % of one core.
2. Frame time during screen transitions at 1024x600 (home -> products -> category ->
   quantity -> back ... ``--transitions`` times): p50/p95. Target p95 <= 16 ms.
3. Cold start to the first interactive frame, in a fresh process (imports, database,
   fonts, first render). Target <= 2 s. And resident memory after a walk through the
   farmer flow (VmRSS). Target <= 150 MB.

Run: ``.venv/bin/python bench/bench_ui.py [--idle 30] [--transitions 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD_START = r"""
import os, sys, time, json
t0 = float(sys.argv[1]); data = sys.argv[2]
sys.path.insert(0, os.getcwd())
from pathlib import Path
from app.compose import hardware_desk, open_kiosk
from kiosk.config import load_config
from ui.loop import App
kiosk = open_kiosk(load_config(None, data_dir=Path(data)))
app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
app.render()
first = time.time() - t0
from ui.testing import Driver
from ui.screens import farmer
d = Driver(app)
p = app.producers.register("张秀英", "13812345678", "示范村", "2580")
d.scan(p.card_code); d.tap("new"); d.tap("category_vegetable"); d.tap("product_V001")
d.type_digits("12"); d.tap("ok"); d.tap("inputs_done"); d.settle()
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(json.dumps({"first_frame_s": first, "rss_mb": rss / 1024}))
app.close(); kiosk.close()
"""


def open_app(data: Path):
    from app.compose import hardware_desk, open_kiosk
    from kiosk.config import load_config
    from ui.loop import App

    kiosk = open_kiosk(load_config(None, data_dir=data))
    return kiosk, App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)


def idle_cpu(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        kiosk, app = open_app(Path(tmp))
        try:
            timer = threading.Timer(seconds, app.stop)
            cpu0, wall0 = time.process_time(), time.monotonic()
            timer.start()
            app.serve()
            return (time.process_time() - cpu0) / (time.monotonic() - wall0)
        finally:
            app.close()
            kiosk.close()


def transitions(count: int) -> list[float]:
    from ui.testing import Driver

    with tempfile.TemporaryDirectory() as tmp:
        kiosk, app = open_app(Path(tmp))
        try:
            driver = Driver(app)
            producer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
            driver.scan(producer.card_code)
            app.frame_times.clear()
            path = ["new", "category_vegetable", "product_V001", "back", "back", "back"]
            for i in range(count):
                driver.tap(path[i % len(path)])
            return list(app.frame_times)
        finally:
            app.close()
            kiosk.close()


def cold_start() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", COLD_START, repr(t0), tmp],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--transitions", type=int, default=200)
    args = parser.parse_args()
    start = cold_start()
    print(f"cold start to first frame: {start['first_frame_s']:.2f} s (target <= 2 s)")
    print(f"resident memory after the farmer flow: {start['rss_mb']:.0f} MB (target <= 150 MB)")
    frames = sorted(transitions(args.transitions))
    p95 = frames[int(len(frames) * 0.95) - 1] * 1000
    print(f"transition frames: {len(frames)}, p50 {statistics.median(frames) * 1000:.1f} ms, "
          f"p95 {p95:.1f} ms (target <= 16 ms)")  # fmt: skip
    cpu = idle_cpu(args.idle)
    print(f"idle CPU on the home screen over {args.idle:.0f} s: {cpu * 100:.2f} % of a core "
          "(target <= 2 %)")  # fmt: skip


if __name__ == "__main__":
    main()
