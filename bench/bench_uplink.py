"""Uplink drain rate against mosquitto_pub, both at QoS 1 to the same fresh broker.

Prints events/s for the uplink (outbox -> PUBACK -> row acked) and for
``mosquitto_pub -l`` sending the same envelopes, and their ratio (target >= 0.5).
A ``mosquitto_sub`` at QoS 1 is subscribed in both runs (without a subscriber the
broker answers 0x10 and the uplink, rightly, holds the events).

    .venv/bin/python bench/bench_uplink.py [--events 10000] [--window 100]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.mqtt_broker import start_broker  # noqa: E402
from support.uplink import enqueue_many, open_kiosk  # noqa: E402

from kiosk.infra.uplink import Uplink, UplinkSettings  # noqa: E402
from wire.topics import PREFIX, event_topic  # noqa: E402

TOPIC = event_topic(PREFIX, "330100", "K001", "certificate")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=UplinkSettings.inflight_window)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    broker = start_broker(work / "broker", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    sub = subprocess.Popen(
        ["mosquitto_sub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t", f"{PREFIX}/#"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        store, outbox = open_kiosk(work / "kiosk.db")
        enqueue_many(store, outbox, args.events)
        bodies = [row[0] for row in store.conn.execute("SELECT body FROM outbox ORDER BY seq")]
        size = sum(len(b.encode()) for b in bodies) / len(bodies)

        lines = ("\n".join(bodies) + "\n").encode()
        t0 = time.perf_counter()
        subprocess.run(
            ["mosquitto_pub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t", TOPIC, "-l"],
            input=lines,
            check=True,
        )
        baseline_s = time.perf_counter() - t0

        settings = UplinkSettings(
            host="127.0.0.1",
            port=broker.port,
            inflight_window=args.window,
            backlog_alarm_threshold=0,  # the alarm would add events to the count
        )
        uplink = Uplink(settings, work / "kiosk.db", "330100", "K001")
        t0 = time.perf_counter()
        uplink.start()
        drained = uplink.wait_drained(300)
        uplink_s = time.perf_counter() - t0
        stats = uplink.stats()
        uplink.close()
        states = dict(store.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state"))
        store.close()
        if not drained or states != {"acked": args.events}:
            print(f"uplink did not drain: {states} {stats}", file=sys.stderr)
            return 1
    finally:
        sub.terminate()
        sub.wait()
        broker.close()
        shutil.rmtree(work, ignore_errors=True)

    base_rate = args.events / baseline_s
    rate = args.events / uplink_s
    print(f"events            {args.events} (avg {size:.0f} bytes), QoS 1, window {args.window}")
    print(f"mosquitto_pub -l  {baseline_s:6.2f} s  {base_rate:8.0f} events/s  (baseline)")
    print(f"uplink drain      {uplink_s:6.2f} s  {rate:8.0f} events/s  (rows acked in SQLite)")
    print(f"ratio uplink/pub  {rate / base_rate:.2f}  (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
