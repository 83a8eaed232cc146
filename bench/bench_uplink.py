"""Uplink drain rate against mosquitto_pub, both at QoS 1 to the same fresh broker.

Prints events/s for the uplink (outbox -> PUBACK -> row acked) and for
``mosquitto_pub -l -M <window>`` sending the same envelopes with the same in-flight
window, and their ratio (target >= 0.8). The two alternate for ``--rounds`` rounds
(the outbox is reset to pending between rounds) and the medians are compared, so a
burst of load from elsewhere on the machine does not decide the figure.
A ``mosquitto_sub`` at QoS 1 is subscribed throughout (without a subscriber the
broker answers 0x10 and the uplink, rightly, holds the events).

    .venv/bin/python bench/bench_uplink.py [--events 10000] [--window 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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


def run_pub(port: int, lines: bytes, window: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["mosquitto_pub", "-V", "5", "-p", str(port), "-q", "1", "-t", TOPIC, "-l",
         "-M", str(window)],
        input=lines,
        check=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def run_uplink(settings: UplinkSettings, db: Path) -> tuple[float, bool, str]:
    uplink = Uplink(settings, db, "330100", "K001")
    t0 = time.perf_counter()
    uplink.start()
    drained = uplink.wait_drained(300)
    elapsed = time.perf_counter() - t0
    stats = uplink.stats()
    uplink.close()
    return elapsed, drained, str(stats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=UplinkSettings.inflight_window)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    broker = start_broker(work / "broker", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    sub = subprocess.Popen(
        ["mosquitto_sub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t", f"{PREFIX}/#"],
        stdout=subprocess.DEVNULL,
    )
    settings = UplinkSettings(
        host="127.0.0.1",
        port=broker.port,
        inflight_window=args.window,
        backlog_alarm_threshold=0,  # the alarm would add events to the count
    )
    pub_s: list[float] = []
    uplink_s: list[float] = []
    try:
        time.sleep(0.3)
        store, outbox = open_kiosk(work / "kiosk.db")
        enqueue_many(store, outbox, args.events)
        bodies = [row[0] for row in store.conn.execute("SELECT body FROM outbox ORDER BY seq")]
        size = sum(len(b.encode()) for b in bodies) / len(bodies)
        lines = ("\n".join(bodies) + "\n").encode()
        for _ in range(args.rounds):
            with store.transaction():
                store.conn.execute(
                    "UPDATE outbox SET state = 'pending', sent_at = NULL, acked_at = NULL"
                )
            pub_s.append(run_pub(broker.port, lines, args.window))
            elapsed, drained, stats = run_uplink(settings, work / "kiosk.db")
            states = dict(store.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state"))
            if not drained or states != {"acked": args.events}:
                print(f"uplink did not drain: {states} {stats}", file=sys.stderr)
                return 1
            uplink_s.append(elapsed)
        store.close()
    finally:
        sub.terminate()
        sub.wait()
        broker.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"events            {args.events} (avg {size:.0f} bytes), QoS 1, window {args.window}")
    for n, (p, u) in enumerate(zip(pub_s, uplink_s, strict=True), 1):
        print(f"  round {n}: mosquitto_pub {args.events / p:7.0f}/s, uplink "
              f"{args.events / u:7.0f}/s, ratio {p / u:.2f}")  # fmt: skip
    base_rate = args.events / statistics.median(pub_s)
    rate = args.events / statistics.median(uplink_s)
    print(f"mosquitto_pub -l  {base_rate:8.0f} events/s  (baseline, median of {args.rounds})")
    print(f"uplink drain      {rate:8.0f} events/s  (rows acked in SQLite, median)")
    print(f"ratio uplink/pub  {rate / base_rate:.2f}  (target >= 0.8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
