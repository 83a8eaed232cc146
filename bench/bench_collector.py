"""Collector ingest into SQLite: events/s for one collector, and two in a shared group.

``mosquitto_pub -l`` (C, QoS 1) floods a fresh broker with N valid certificate
envelopes; the clock runs from the first publish until the database holds all N.
Each collector is its own ``station collect`` process. Two share one SQLite file
(the default deployment), so the ratio shows what a second collector buys when
the database is the bottleneck.

    .venv/bin/python bench/bench_collector.py [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.mqtt_broker import start_broker  # noqa: E402
from support.uplink import fixed_clock, sample  # noqa: E402

from station.db import Database  # noqa: E402
from wire.topics import PREFIX, event_topic  # noqa: E402

TOPIC = event_topic(PREFIX, "330100", "K001", "certificate")
TIMEOUT_S = 300.0


def envelopes(count: int) -> bytes:
    lines = []
    for seq in range(1, count + 1):
        _, data = sample("certificate.issued", seq)
        doc = {"id": f"K001:{seq}", "schema": "certificate.issued", "version": 1,
               "envelope": 1, "county": "330100", "device": "K001", "seq": seq,
               "time": fixed_clock().isoformat(), "data": data}  # fmt: skip
        lines.append(json.dumps(doc, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _count(db_path: Path) -> int:
    if not db_path.exists():
        return -1
    with Database(db_path) as db:
        return db.count_events()


def _spawn(db_path: Path, port: int, client_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "station.cli", "collect", "--db", str(db_path),
         "--host", "127.0.0.1", "--port", str(port), "--client-id", client_id],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run(work: Path, payload: bytes, count: int, collectors: int) -> float:
    """Collectors run as separate ``station collect`` processes, as deployed."""
    broker = start_broker(work / f"broker{collectors}", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    db_path = work / f"station{collectors}.db"
    procs = [_spawn(db_path, broker.port, f"bench-{n}") for n in range(collectors)]
    try:
        deadline = time.monotonic() + 10
        while broker.log().count("as bench-") < collectors:
            if time.monotonic() > deadline:
                raise RuntimeError("collectors did not connect")
            time.sleep(0.05)
        time.sleep(0.5)  # subscribe round trip
        t0 = time.perf_counter()
        subprocess.run(
            ["mosquitto_pub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t", TOPIC, "-l"],
            input=payload,
            check=True,
        )
        while (stored := _count(db_path)) < count:
            if time.perf_counter() - t0 > TIMEOUT_S:
                raise RuntimeError(f"ingest timed out at {stored}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        broker.close()
    if _count(db_path) != count:
        raise RuntimeError(f"stored {_count(db_path)}, expected {count}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    try:
        payload = envelopes(args.events)
        one = run(work, payload, args.events, 1)
        two = run(work, payload, args.events, 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = len(payload) / args.events
    print(f"events               {args.events} certificate.issued (avg {size:.0f} bytes), QoS 1")
    print(f"one collector        {one:6.2f} s  {args.events / one:8.0f} events/s  (target >= 3000)")
    print(
        f"two, shared group    {two:6.2f} s  {args.events / two:8.0f} events/s  (one SQLite file)"
    )
    print(f"ratio two/one        {one / two:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
