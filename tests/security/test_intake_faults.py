"""Issue 11 items 1 and 10: store faults, floods and conflicting event ids at the county.

Real Mosquitto, real collector, SQLite and PostgreSQL. A batch the store refuses is
split until the refused message is alone and quarantined; a flood is counted, not
stored, with one alarm; a known event id with another body is a conflict (quarantined,
alarmed), never a duplicate to drop; a terminated PostgreSQL backend is reconnected
without losing or acknowledging anything uncommitted; SIGTERM is honoured promptly even
while the writer is stuck in the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from support.postgres import PG_URL
from support.uplink import collector_settings, wait_until

from station.collector import REASONS_KEPT, Collector
from station.db import Database

from .intake_rig import T, envelope, good

ROOT = Path(__file__).resolve().parents[2]


def _refuse_seq_seven(url: str) -> None:
    """A store-level refusal the schemas cannot foresee (a constraint added by the DBA)."""
    with Database(url) as db:
        if db.url.startswith("postgresql"):
            db.execute("ALTER TABLE events ADD CONSTRAINT refuse_seven CHECK (seq <> 7)")
        else:
            db.execute("CREATE TRIGGER refuse_seven BEFORE INSERT ON events WHEN NEW.seq = 7 "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END")  # fmt: skip


def test_batch_refused_by_store_is_split_and_the_bad_message_isolated(
    store_url, broker_factory, publisher
):
    _refuse_seq_seven(store_url)
    broker = broker_factory()
    settings = collector_settings(broker.port, batch_wait_s=1.5)
    with Collector(settings, store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 21):
            pub.send(T + "alarm", good(seq))
        wait_until(lambda: collector.stats().received >= 20, 15, "all messages")
        stats = collector.stats()
        assert collector.healthy
        assert (stats.stored, stats.quarantined, stats.store_faults) == (19, 1, 0), stats
        assert stats.batches <= 2, "one batch (maybe two), split inside, not retried forever"
    with Database(store_url) as db:
        assert db.count_events() == 19
        [(reason,)] = db.query("SELECT reason FROM quarantine")
        assert reason.startswith("store refused:"), reason


def test_known_event_id_with_another_body_is_a_conflict_not_a_duplicate(
    store_url, broker_factory, publisher
):
    broker = broker_factory()
    first = good(5)
    other = json.dumps(envelope("alarm.cleared", 5, code="cover_open")).encode()
    with Collector(collector_settings(broker.port), store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send(T + "alarm", first)
        wait_until(lambda: collector.stats().stored == 1, 10, "the first body")
        pub.send(T + "alarm", other)  # K001:5 again, another body (a restored kiosk)
        pub.send(T + "alarm", first)  # a plain redelivery
        wait_until(lambda: collector.stats().received >= 3, 10, "all messages")
        stats = collector.stats()
        assert (stats.stored, stats.duplicates, stats.conflicts) == (1, 1, 1), stats
    with Database(store_url) as db:
        [(reason, payload)] = db.query("SELECT reason, payload FROM quarantine")
        assert "conflict" in reason and "K001:5" in reason
        assert json.loads(bytes(payload))["data"]["code"] == "cover_open"  # kept to inspect
        [alarm] = db.intake_alarms()
        assert alarm[:3] == ("330100", "K001", "event_conflict") and alarm[6] == 1


def test_junk_flood_is_counted_not_stored_with_one_alarm(store_url, broker_factory, publisher):
    broker = broker_factory()
    junk = 3000
    with Collector(collector_settings(broker.port), store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for n in range(junk):
            pub.client.publish(T + "alarm", b"junk %d" % n + b"x" * 4000, qos=1)
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().received >= junk + 1, 60, "the flood")
        stats = collector.stats()
        assert collector.healthy
        assert stats.stored == 1
        assert stats.quarantined == 100  # the per-device cap per hour
        assert stats.dropped == junk - 100
        assert len(stats.reasons) <= REASONS_KEPT
    with Database(store_url) as db:
        assert db.query("SELECT count(*) FROM quarantine") == [(100,)]
        [alarm] = db.intake_alarms()
        assert alarm[:3] == ("330100", "K001", "intake_flood") and alarm[6] == junk - 100


def test_valid_event_flood_past_the_rate_is_counted_with_one_alarm(
    tmp_path, broker_factory, publisher
):
    broker = broker_factory()
    url = str(tmp_path / "station.db")
    settings = collector_settings(broker.port, rate_burst=50, rate_per_s=0.0)
    with Collector(settings, url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 81):
            pub.send(T + "alarm", good(seq))
        pub.send("agriqs/v1/330100/K002/evt/alarm", good(1, "K002"))  # another kiosk's budget
        wait_until(lambda: collector.stats().received >= 81, 15, "all messages")
        stats = collector.stats()
        assert (stats.stored, stats.dropped) == (51, 30), stats
    with Database(url) as db:
        [alarm] = db.intake_alarms()
        assert alarm[:3] == ("330100", "K001", "intake_rate") and alarm[6] == 30


def _backends(app: str) -> list[int]:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app]
        ).fetchall()
    return [r[0] for r in rows]


def _terminate(app: str) -> int:
    pids = _backends(app)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return len(pids)


def test_terminated_postgres_backend_is_reconnected_and_nothing_is_lost(
    pg_url, broker_factory, publisher
):
    app = f"collector-{os.getpid()}-{time.monotonic_ns()}"
    url = f"{pg_url}&application_name={app}"
    broker = broker_factory()
    with Collector(collector_settings(broker.port, store_retry_min_s=0.1), url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 51):
            pub.send(T + "alarm", good(seq))
        wait_until(lambda: collector.stats().stored >= 50, 10, "the first 50")
        assert _terminate(app) == 1
        for seq in range(51, 201):
            pub.send(T + "alarm", good(seq))
            if seq == 120:
                _terminate(app)  # again, mid-stream
        wait_until(lambda: collector.stats().stored >= 200, 20, "all 200 after reconnecting")
        stats = collector.stats()
        assert collector.healthy and stats.store_faults >= 1 and stats.quarantined == 0
    with Database(pg_url) as db:
        assert db.query("SELECT count(*), min(seq), max(seq) FROM events") == [(200, 1, 200)]


def _spawn(url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "station.cli", "collect", "--db", url, "--host", "127.0.0.1",
         "--port", str(port), "--client-id", "collector-sig", *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_sigterm_is_honoured_while_the_writer_is_stuck_in_the_store(
    pg_url, broker_factory, publisher
):
    app = f"collector-{os.getpid()}-{time.monotonic_ns()}"
    url = f"{pg_url}&application_name={app}"
    Database(pg_url).close()  # tables exist before the lock below
    broker = broker_factory()
    proc = _spawn(url, broker.port, "--stop-timeout", "2")
    locker = psycopg.connect(pg_url)
    try:
        # Connected to the broker, so its store is open and migrated (cutting it before
        # that is a start-up failure: exit 2, and systemd starts it again).
        wait_until(lambda: "as collector-sig" in broker.log(), 20, "collector subscribed")
        wait_until(lambda: len(_backends(app)) == 1, 15, "collector connected to the store")
        time.sleep(0.5)  # subscribed
        locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # held: the writer hangs
        pub = publisher(broker.port)
        pub.send(T + "alarm", good(1))
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 6.0
    finally:
        locker.rollback()
        locker.close()
        if proc.poll() is None:
            proc.kill()
    with Database(pg_url) as db:
        assert db.count_events() == 0  # never committed, so never acknowledged: redelivered


def test_sigterm_is_honoured_while_the_store_connection_is_being_cut(
    pg_url, broker_factory, publisher
):
    app = f"collector-{os.getpid()}-{time.monotonic_ns()}"
    url = f"{pg_url}&application_name={app}"
    # Migrated before the collector starts: cutting its connections mid-migration would
    # make it refuse to start (exit 2), which is not what this test is about.
    Database(pg_url).close()
    broker = broker_factory()
    proc = _spawn(url, broker.port, "--stop-timeout", "2")
    stop = threading.Event()

    def cut() -> None:
        while not stop.is_set():
            _terminate(app)
            time.sleep(0.05)

    try:
        # Connected to the broker, so its store is open and migrated (cutting it before
        # that is a start-up failure: exit 2, and systemd starts it again).
        wait_until(lambda: "as collector-sig" in broker.log(), 20, "collector subscribed")
        wait_until(lambda: len(_backends(app)) == 1, 15, "collector connected to the store")
        time.sleep(0.5)
        cutter = threading.Thread(target=cut, daemon=True)
        cutter.start()
        pub = publisher(broker.port)
        for seq in range(1, 11):
            pub.send(T + "alarm", good(seq))
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        # The backoff waits on the stop flag; a connect or statement under way may take
        # up to --stop-timeout. (Before: ignored for 15 s, until killed.)
        elapsed = time.monotonic() - started
        assert elapsed < 5.0, elapsed
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()


def _threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name and t.is_alive())


def _count_events(url: str) -> int:
    with Database(url) as db:
        return db.count_events()


def test_a_writer_left_in_the_store_by_stop_leaves_once_freed_after_a_restart(
    pg_url, broker_factory, publisher
):
    """stop() leaves a writer stuck in the store; start() runs a new one. Once the store
    lets go, the old writer commits what it held and leaves (before: start() had cleared
    the one shared stop flag, so the old writer went on taking batches from the new
    run's queue beside the new writer, with its own store connection, sharing the
    budgets and split bookkeeping meant for one thread; one more per restart)."""
    app = f"collector-{os.getpid()}-{time.monotonic_ns()}"
    url = f"{pg_url}&application_name={app}"
    Database(pg_url).close()  # tables exist before the lock below
    broker = broker_factory()
    settings = collector_settings(broker.port, stop_timeout_s=1.0, batch_wait_s=0.01)
    collector = Collector(settings, url)
    locker = psycopg.connect(pg_url)
    before = _threads("collector-writer")
    try:
        collector.start()
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # held: the writer hangs
        pub.send(T + "alarm", good(1))
        time.sleep(0.5)  # the writer holds batch 1, stuck
        pub.send(T + "alarm", good(2))
        collector.stop()  # leaves the stuck writer
        collector.start()
        wait_until(lambda: collector.stats().connected, 10, "collector connected again")
        assert _threads("collector-writer") == before + 2  # the old one is still stuck
        locker.rollback()  # the store lets go
        wait_until(lambda: _count_events(pg_url) == 2, 15, "both events stored")
        pub.send(T + "alarm", good(3))
        wait_until(lambda: _count_events(pg_url) == 3, 15, "a later event stored")
        wait_until(lambda: _threads("collector-writer") == before + 1, 5, "one writer left")
        assert collector.healthy
        assert len(_backends(app)) == 1, "the old writer's store connection is closed"
    finally:
        locker.close()
        collector.close()
    with Database(pg_url) as db:
        assert db.query("SELECT count(*), min(seq), max(seq) FROM events") == [(3, 1, 3)]


def test_a_nested_claim_does_not_stop_the_network_thread(tmp_path, broker_factory, publisher):
    """Claims are read on paho's network thread: a RecursionError there (a claim nested
    100,000 deep, sent by any account allowed on the claims topic) ended the thread, and
    the collector looked healthy while it received nothing more."""
    broker = broker_factory()
    path = str(tmp_path / "county.db")
    with Collector(collector_settings(broker.port), path) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send("agriqs/v1/_collectors/collectors/mallory", b"[" * 100_000 + b"]" * 100_000)
        pub.send("agriqs/v1/_collectors/collectors/mallory", b"{" * 3000)
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().stored >= 1, 10, "the event after the claims")
        assert collector.conflict is None


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_network_thread_makes_the_collector_unhealthy(
    tmp_path, broker_factory, publisher, monkeypatch
):
    """Whatever stops paho's network thread (here a bug in the claim handler), the
    collector says so: ``station collect`` then exits and systemd starts it again."""
    broker = broker_factory()
    with Collector(collector_settings(broker.port), str(tmp_path / "county.db")) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        assert collector.healthy

        def broken(*_a: object) -> None:
            raise RuntimeError("a bug on the network thread")

        monkeypatch.setattr(collector, "_on_claim", broken)
        publisher(broker.port).send("agriqs/v1/_collectors/collectors/other", b"{}")
        wait_until(lambda: not collector.healthy, 10, "the collector to say it is unhealthy")


def test_a_message_whose_quarantine_row_is_refused_too_is_counted_once(
    tmp_path, broker_factory, publisher
):
    """The store refuses seq 7 and every quarantine row: seq 7 is acknowledged and
    counted as dropped (alarm-worthy), not also as quarantined (it was counted twice)."""
    path = str(tmp_path / "county.db")
    _refuse_seq_seven(path)
    with Database(path) as db:
        db.execute("CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine "
                   "BEGIN SELECT RAISE(ABORT, 'quarantine refused by the test'); END")  # fmt: skip
    broker = broker_factory()
    with Collector(collector_settings(broker.port, batch_wait_s=1.0), path) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 11):
            pub.send(T + "alarm", good(seq))
        wait_until(lambda: collector.stats().received >= 10, 15, "all messages")
        stats = collector.stats()
        assert (stats.stored, stats.quarantined, stats.dropped) == (9, 0, 1), stats
