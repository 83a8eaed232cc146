"""Collector ingest into SQLite and PostgreSQL: one collector, and two in a shared group.

``mosquitto_pub -l`` (C, QoS 1) floods a fresh broker with N valid certificate
envelopes; the clock runs from the first publish until the database holds all N.
Each collector is its own ``station collect`` process, as deployed. The same-run
baseline is ``mosquitto_pub``'s own rate into a broker with no subscriber: what this
machine can publish at all while nothing consumes.

Two ways to load them, each reported: a *live* flood (the collectors consume while
``mosquitto_pub`` publishes, so all share the cores) and a *backlog* drain (the
collectors are stopped with SIGSTOP while the N events are published, as after a
county outage, then resumed: the clock runs from the resume, with the publisher done).

Read the ratios with the machine in mind: on the 2-core development VM the broker,
PostgreSQL, ``mosquitto_pub`` and one or two collectors share two cores, so a second
collector mostly takes CPU from the others. CPU seconds per 1,000 events (all
collectors together, their PostgreSQL backends apart) is the scaling figure: if it
does not grow with a second collector, collectors on their own cores add up.

PostgreSQL gets a fresh database per run on 127.0.0.1:5432 (user ``postgres``, trust
authentication, as in ``tests/support/postgres.py``), dropped afterwards.

    .venv/bin/python bench/bench_collector.py [--events 20000] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.mqtt_broker import start_broker  # noqa: E402
from support.uplink import fixed_clock, sample  # noqa: E402

from station.db import Database  # noqa: E402
from station.intake import parse_event  # noqa: E402
from wire.events import schema_book  # noqa: E402
from wire.topics import PREFIX, event_topic, parse_topic  # noqa: E402

TOPIC = event_topic(PREFIX, "330100", "K001", "certificate")
TIMEOUT_S = 300.0
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
TICKS = os.sysconf("SC_CLK_TCK")


def envelopes(count: int) -> bytes:
    lines = []
    for seq in range(1, count + 1):
        _, data = sample("certificate.issued", seq)
        doc = {"id": f"K001:{seq}", "schema": "certificate.issued", "version": 1,
               "envelope": 1, "county": "330100", "device": "K001", "seq": seq,
               "time": fixed_clock().isoformat(), "data": data}  # fmt: skip
        lines.append(json.dumps(doc, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for one run, dropped afterwards."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG_SERVER}/test", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


class Counter:
    """``SELECT count(*) FROM events`` on one connection kept open (polled every 20 ms)."""

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql"):
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
        else:
            self.conn = sqlite3.connect(url)

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def backends(self, prefix: str) -> list[int]:
        """PostgreSQL backend pids of the collectors (by application_name)."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s", [prefix + "%"]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def close(self) -> None:
        self.conn.close()


@dataclass
class Run:
    store: str
    collectors: int
    elapsed: float
    count: int
    #: CPU seconds of the collector processes together, and of their PG backends.
    collector_cpu: float
    backend_cpu: float
    #: Drained from a backlog published beforehand (else consumed while published).
    backlog: bool = False

    @property
    def rate(self) -> float:
        return self.count / self.elapsed


def publish(port: int, payload: bytes) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["mosquitto_pub", "-V", "5", "-p", str(port), "-q", "1", "-t", TOPIC, "-l"],
        input=payload,
        check=True,
    )
    return time.perf_counter() - t0


def baseline(work: Path, payload: bytes) -> float:
    """Seconds ``mosquitto_pub`` takes to publish everything with nobody subscribed."""
    broker = start_broker(work / "broker-baseline", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    try:
        return publish(broker.port, payload)
    finally:
        broker.close()


def store_alone(work: Path, payload: bytes, store: str, batch: int = 500) -> float:
    """Seconds ``Database.store`` takes for the parsed events in batches of ``batch``, in
    this process, without MQTT: the store's own share of the collector's work."""
    topic = parse_topic(TOPIC, PREFIX)
    book = schema_book()
    events = [parse_event(book, topic, line) for line in payload.splitlines()]
    with postgres_database() if store == "postgresql" else _sqlite(work, 0) as url:
        db = Database(url)
        try:
            t0 = time.perf_counter()
            for start in range(0, len(events), batch):
                db.store(events[start : start + batch])
            return time.perf_counter() - t0
        finally:
            db.close()


def _spawn(url: str, port: int, client_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "station.cli", "collect", "--db", url,
         "--host", "127.0.0.1", "--port", str(port), "--client-id", client_id],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run(work: Path, payload: bytes, count: int, store: str, collectors: int, backlog: bool) -> Run:
    with postgres_database() if store == "postgresql" else _sqlite(work, collectors) as url:
        Database(url).close()  # the schema exists before the collectors race to create it
        return _measure(work, url, payload, count, store, collectors, backlog)


@contextmanager
def _sqlite(work: Path, collectors: int) -> Iterator[str]:
    path = work / f"station{collectors}.db"
    try:
        yield str(path)
    finally:
        for leftover in work.glob(f"{path.name}*"):
            leftover.unlink()


def _measure(
    work: Path, url: str, payload: bytes, count: int, store: str, n: int, backlog: bool
) -> Run:
    broker = start_broker(work / f"broker-{store}-{n}", persistence=False,
                          extra_config="max_queued_messages 0")  # fmt: skip
    tag = f"bench-{uuid.uuid4().hex[:6]}"
    urls = [f"{url}?application_name={tag}-{i}" if store == "postgresql" else url
            for i in range(n)]  # fmt: skip
    procs = [_spawn(u, broker.port, f"{tag}-{i}") for i, u in enumerate(urls)]
    counter = Counter(url)
    try:
        deadline = time.monotonic() + 20
        while broker.log().count(f"as {tag}-") < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("collectors did not connect")
            time.sleep(0.05)
        time.sleep(0.5)  # subscribe round trip
        backends = counter.backends(tag) if store == "postgresql" else []
        if backlog:  # published while the collectors are stopped; the broker queues it
            for proc in procs:
                proc.send_signal(signal.SIGSTOP)
            publish(broker.port, payload)
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        db0 = [cpu_seconds(pid) for pid in backends]
        t0 = time.perf_counter()
        if backlog:
            for proc in procs:
                proc.send_signal(signal.SIGCONT)
        else:
            publish(broker.port, payload)
        while (stored := counter.count()) < count:
            if time.perf_counter() - t0 > TIMEOUT_S:
                raise RuntimeError(f"ingest timed out at {stored}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) for p in procs) - sum(cpu0)
        db_cpu = sum(cpu_seconds(pid) for pid in backends) - sum(db0)
        time.sleep(0.2)
        final = counter.count()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        counter.close()
        broker.close()
    if final != count:
        raise RuntimeError(f"stored {final}, expected {count}")
    return Run(store, n, elapsed, count, cpu, db_cpu, backlog)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--collectors", default="1,2", help="1, 2 or 1,2")
    parser.add_argument("--loads", default="live,backlog", help="live, backlog or both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    try:
        payload = envelopes(args.events)
        base = baseline(work, payload)
        stores = {store: store_alone(work, payload, store) for store in args.stores.split(",")}
        runs = [run(work, payload, args.events, store, n, load == "backlog")
                for load in args.loads.split(",")
                for store in args.stores.split(",")
                for n in map(int, args.collectors.split(","))]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = len(payload) / args.events
    k = args.events / 1000
    print(f"{'events':28s} {args.events} certificate.issued (avg {size:.0f} bytes), QoS 1,"
          f" {os.cpu_count()} cores shared by broker, store, publisher and collectors")  # fmt: skip
    print(
        f"{'mosquitto_pub alone':28s} {base:6.2f} s  {args.events / base:8.0f} events/s  (baseline)"
    )
    for store, seconds in stores.items():
        label = f"{store}, store() alone"
        print(f"{label:28s} {seconds:6.2f} s  {args.events / seconds:8.0f} events/s  "
              "(Database.store in batches of 500, no MQTT)")  # fmt: skip
    one: dict[tuple[str, bool], Run] = {}
    for r in runs:
        load = "backlog" if r.backlog else "live"
        label = f"{r.store}, {'one' if r.collectors == 1 else 'two'}, {load}"
        db = f", PG backends {r.backend_cpu / k:.3f}" if r.store == "postgresql" else ""
        print(f"{label:28s} {r.elapsed:6.2f} s  {r.rate:8.0f} events/s  "
              f"{r.rate * base / args.events:4.2f}x baseline  "
              f"CPU s/1,000 events: collectors {r.collector_cpu / k:.3f}{db}")  # fmt: skip
        if r.collectors == 1:
            one[(r.store, r.backlog)] = r
        elif (r.store, r.backlog) in one:
            first = one[(r.store, r.backlog)]
            print(
                f"{r.store + ', ratio two/one':28s} {r.rate / first.rate:.2f}  "
                f"(CPU per event two/one {r.collector_cpu / first.collector_cpu:.2f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
