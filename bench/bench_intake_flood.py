"""A junk flood from one kiosk account: what the county stores, counts and spends.

``mosquitto_pub -l`` (QoS 1) sends N junk messages (~4.6 KB each, as in issue 11's
53,000-message flood: malformed JSON, deep nesting, out-of-range integers, NUL and lone
surrogates, schema failures) on one kiosk's topic, then one valid event. A ``station
collect`` process stores into a fresh SQLite file (or ``--db postgresql://…``). The
clock runs until the valid event is stored and every junk message is accounted for
(quarantine rows + the count in ``intake_alarms``).

    .venv/bin/python bench/bench_intake_flood.py [--messages 50000] [--db URL]
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
TIMEOUT_S = 600.0
PAD = "x" * 4500


def junk(count: int) -> bytes:
    """``count`` lines of varied junk, each ~4.6 KB, then one valid event."""
    _, data = sample("certificate.issued", 1)
    valid = {"id": "K001:1", "schema": "certificate.issued", "version": 1, "envelope": 1,
             "county": "330100", "device": "K001", "seq": 1,
             "time": fixed_clock().isoformat(), "data": data}  # fmt: skip
    kinds = [
        lambda n: "{not json " + PAD,
        lambda n: "[" * 2300 + "]" * 2300,
        lambda n: json.dumps({**valid, "seq": 2**63 + n, "pad": PAD}),
        lambda n: json.dumps({**valid, "data": {**data, "origin": "a\u0000" + PAD}}),
        lambda n: json.dumps({**valid, "data": {**data, "origin": "\ud800" + PAD}}),
        lambda n: json.dumps(
            {**valid, "id": f"K001:{n + 2}", "seq": n + 2, "data": {**data, "basis": PAD}}
        ),
    ]
    lines = [kinds[n % len(kinds)](n) for n in range(count)]
    lines.append(json.dumps(valid, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _store_bytes(db: str) -> int:
    if db.startswith("postgresql"):
        with Database(db) as d:
            sql = ("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = current_schema() AND c.relkind = 'r'")  # fmt: skip
            return int(d.query(sql)[0][0])
    path = Path(db)
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _accounted(db: str) -> tuple[int, int, int]:
    """(events, quarantine rows, counted in intake_alarms)."""
    with Database(db) as d:
        events = d.count_events()
        quarantined = d.query("SELECT count(*) FROM quarantine")[0][0]
        counted = sum(a[6] for a in d.intake_alarms())
    return events, int(quarantined), counted


def _rss_kb(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def run(work: Path, db: str, count: int) -> dict[str, float]:
    broker = start_broker(work / "broker", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    Database(db).close()  # migrated: the size before counts the empty schema
    before = _store_bytes(db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "collect", "--db", db, "--host", "127.0.0.1",
         "--port", str(broker.port), "--client-id", "bench-flood"],
        cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    payload = junk(count)
    try:
        deadline = time.monotonic() + 15
        while "as bench-flood" not in broker.log():
            if time.monotonic() > deadline:
                raise RuntimeError("collector did not connect")
            time.sleep(0.05)
        time.sleep(0.5)
        rss_idle, _ = _rss_kb(proc.pid)
        t0 = time.perf_counter()
        subprocess.run(
            ["mosquitto_pub", "-V", "5", "-p", str(broker.port), "-q", "1", "-t", TOPIC, "-l"],
            input=payload, check=True,
        )  # fmt: skip
        sent = time.perf_counter() - t0
        while True:
            events, quarantined, counted = _accounted(db)
            if events == 1 and quarantined + counted >= count:
                break
            if time.perf_counter() - t0 > TIMEOUT_S or proc.poll() is not None:
                raise RuntimeError(f"flood not absorbed: {events}, {quarantined}, {counted}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        rss, peak = _rss_kb(proc.pid)
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        stop_s = time.perf_counter() - t1
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.close()
    return {"sent_s": sent, "absorbed_s": elapsed, "events": events, "quarantined": quarantined,
            "counted": counted, "growth": _store_bytes(db) - before, "rss_idle": rss_idle,
            "rss": rss, "peak": peak, "bytes": len(payload), "stop_s": stop_s}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--db", help="postgresql:// URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    try:
        r = run(work, args.db or str(work / "station.db"), args.messages)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.messages
    print(
        f"flood                {n} junk messages, {r['bytes'] / 2**20:.0f} MiB, QoS 1, one device"
    )
    print(f"published in         {r['sent_s']:.1f} s; absorbed in {r['absorbed_s']:.1f} s "
          f"({n / r['absorbed_s']:.0f} messages/s)")  # fmt: skip
    print(f"stored               {r['events']} valid event, {r['quarantined']} quarantine rows")
    print(f"counted, not stored  {r['counted']} (one intake_flood alarm)")
    print(f"store growth         {r['growth'] / 2**20:.2f} MiB")
    print(f"collector RSS        {r['rss_idle'] / 1024:.0f} MiB idle, {r['rss'] / 1024:.0f} MiB "
          f"after, peak {r['peak'] / 1024:.0f} MiB")  # fmt: skip
    print(f"SIGTERM to exit      {r['stop_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
