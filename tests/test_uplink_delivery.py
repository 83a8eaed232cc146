"""End to end: kiosk outbox -> real mosquitto -> collector -> SQLite (and PostgreSQL, with
``station collect`` processes as deployed), through failures.

Each test checks the county database holds exactly the enqueued event ids, and
the kiosk outbox ends with every row acknowledged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import (
    ROOT,
    collector_settings,
    enqueue_many,
    open_kiosk,
    wait_until,
)

from kiosk.infra.uplink import Uplink, UplinkSettings
from station.collector import Collector
from station.db import Database
from wire import events

DRAIN_TIMEOUT_S = 30.0
#: As in docs/deploy/mosquitto/mosquitto.conf: the default queue (1000 per client)
#: silently drops events meant for a collector that is down (a test here caught it).
BROKER_CONFIG = "max_queued_messages 2000000"


def uplink_settings(port: int, **overrides: object) -> UplinkSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "poll_interval_s": 0.5,
        "no_subscriber_retry_s": 0.3,
    }
    base.update(overrides)
    return UplinkSettings(**base)  # type: ignore[arg-type]


def stored_ids(db_path: Path | str) -> list[str]:
    with Database(db_path) as db:
        return [r[0] for r in db.query("SELECT event_id FROM events")]


def stored_count(db_path: Path | str) -> int:
    with Database(db_path) as db:
        return db.count_events()


def outbox_states(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(store.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())


def device_status(db_path: Path) -> str | None:
    with Database(db_path) as db:
        rows = db.query("SELECT status FROM device_state WHERE device = 'K001'")
    return rows[0][0] if rows else None


def assert_exactly_once(db_path: Path | str, ids: list[str]) -> None:
    got = stored_ids(db_path)
    assert len(got) == len(set(got))
    assert sorted(got) == sorted(ids)
    with Database(db_path) as db:
        assert db.gaps() == []


def test_offline_backlog_delivered_once_when_broker_comes_up(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db = tmp_path / "station.db"
    collector = Collector(collector_settings(broker.port), station_db)
    collector.start()
    wait_until(lambda: collector.stats().connected, 5, "collector connected")
    broker.stop()  # the collector's session and shared subscription persist in the broker

    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    ids = enqueue_many(store, outbox, 1000)
    uplink = Uplink(uplink_settings(broker.port), tmp_path / "kiosk.db", "330100", "K001")
    outbox.add_listener(uplink.wake)
    uplink.start()
    time.sleep(0.5)
    assert uplink.stats().acked == 0
    assert outbox_states(store) == {"pending": 1000}

    broker.start()
    assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
    wait_until(lambda: device_status(station_db) == "online", 5, "retained birth stored")
    wait_until(lambda: collector.stats().stored >= 1000, DRAIN_TIMEOUT_S, "1000 stored")
    assert_exactly_once(station_db, ids)
    assert outbox_states(store) == {"acked": 1000}

    # A new event while connected goes out promptly (woken by the outbox listener).
    with store.transaction():
        ids.append(outbox.enqueue(events.alarm_cleared(code="paper_out")))
    wait_until(lambda: collector.stats().stored >= 1001, 2, "live event")
    uplink.close()  # publishes the retained "offline" state before disconnecting
    wait_until(lambda: device_status(station_db) == "offline", 5, "offline state stored")
    collector.close()
    uplink.close()  # idempotent
    collector.close()
    store.close()
    assert_exactly_once(station_db, ids)


def test_broker_restart_mid_drain(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db = tmp_path / "station.db"
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    ids = enqueue_many(store, outbox, 3000)
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        uplink = Uplink(
            uplink_settings(broker.port, inflight_window=20),
            tmp_path / "kiosk.db",
            "330100",
            "K001",
        )
        with uplink:
            wait_until(lambda: uplink.stats().acked >= 300, 10, "drain under way")
            broker.restart(down_s=0.3)
            assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
            assert uplink.stats().connects >= 2
            wait_until(lambda: collector.stats().stored >= 3000, DRAIN_TIMEOUT_S, "all stored")
    assert_exactly_once(station_db, ids)
    assert outbox_states(store) == {"acked": 3000}
    store.close()


def _spawn_uplink(db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk.infra.uplink", "--db", str(db), "--county", "330100",
         "--device", "K001", "--host", "127.0.0.1", "--port", str(port), "--window", "10",
         "--reconnect-min", "0.1", "--poll", "0.5"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_kiosk_killed_mid_drain_resends_after_restart(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db = tmp_path / "station.db"
    kiosk_db = tmp_path / "kiosk.db"
    store, outbox = open_kiosk(kiosk_db)
    ids = enqueue_many(store, outbox, 3000)
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        proc = _spawn_uplink(kiosk_db, broker.port)
        try:
            wait_until(lambda: collector.stats().received >= 300, 15, "drain under way")
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            states = outbox_states(store)
            assert states.get("pending", 0) + states.get("sent", 0) > 0, states
            proc = _spawn_uplink(kiosk_db, broker.port)
            wait_until(
                lambda: outbox_states(store) == {"acked": 3000}, DRAIN_TIMEOUT_S, "all acked"
            )
            wait_until(lambda: collector.stats().stored >= 3000, DRAIN_TIMEOUT_S, "all stored")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    assert_exactly_once(station_db, ids)
    store.close()


def _spawn_collector(
    db: Path | str, port: int, client_id: str = "collector-k", batch_wait_s: float = 0.6
) -> subprocess.Popen[bytes]:
    # A long batch window: messages sit received-but-uncommitted, where the kill lands.
    return subprocess.Popen(
        [sys.executable, "-m", "station.cli", "collect", "--db", str(db), "--host", "127.0.0.1",
         "--port", str(port), "--client-id", client_id, "--batch-wait", str(batch_wait_s),
         "--batch-max", "100000"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def test_collector_killed_before_commit_loses_nothing(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db = tmp_path / "station.db"
    kiosk_db = tmp_path / "kiosk.db"
    store, outbox = open_kiosk(kiosk_db)
    proc = _spawn_collector(station_db, broker.port)
    try:
        wait_until(station_db.exists, 10, "collector database")
        time.sleep(0.5)  # let it subscribe
        with Uplink(uplink_settings(broker.port), kiosk_db, "330100", "K001") as uplink:
            ids = enqueue_many(store, outbox, 2000)
            uplink.wake()
            assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
        # The broker has every event; the collector is still inside its batch window.
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert stored_count(station_db) < 2000, "the kill should land before a commit"
        proc = _spawn_collector(station_db, broker.port)
        wait_until(lambda: stored_count(station_db) >= 2000, DRAIN_TIMEOUT_S, "redelivery")
        time.sleep(0.8)  # a duplicate would show up within one batch window
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert_exactly_once(station_db, ids)
    store.close()


def test_two_collectors_in_a_shared_group_store_each_event_once(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(extra_config=BROKER_CONFIG)
    dbs = [tmp_path / "a.db", tmp_path / "b.db"]
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    collectors = [
        Collector(collector_settings(broker.port, client_id=f"collector-{n}"), db)
        for n, db in enumerate(dbs)
    ]
    for c in collectors:
        c.start()
    wait_until(lambda: all(c.stats().connected for c in collectors), 5, "collectors connected")
    time.sleep(0.3)
    ids = enqueue_many(store, outbox, 2000)
    with Uplink(uplink_settings(broker.port), tmp_path / "kiosk.db", "330100", "K001") as uplink:
        assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
        wait_until(
            lambda: sum(c.stats().stored for c in collectors) >= 2000, DRAIN_TIMEOUT_S, "stored"
        )
    for c in collectors:
        c.close()
    a, b = (set(stored_ids(db)) for db in dbs)
    assert a and b, "both members of the group should get a share"
    assert not a & b, "an event was delivered to both collectors"
    assert sorted(a | b) == sorted(ids)
    store.close()


def test_collector_processes_on_postgresql_store_each_event_once_through_a_kill(
    tmp_path,
    pg_url,
    broker_factory,  # noqa: F811
):
    """As deployed: two ``station collect`` processes in one shared group write to one
    PostgreSQL store; one is killed inside its batch window and started again. Every
    kind of event is stored once, and each projection holds one row per event."""
    broker = broker_factory(extra_config=BROKER_CONFIG)
    Database(pg_url).close()  # migrated before two processes start together
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    procs = [_spawn_collector(pg_url, broker.port, "collector-0", batch_wait_s=3.0),
             _spawn_collector(pg_url, broker.port, "collector-1", batch_wait_s=0.05)]  # fmt: skip
    try:
        wait_until(lambda: broker.log().count("as collector-") >= 2, 20, "collectors connected")
        time.sleep(0.5)  # let them subscribe
        with Uplink(uplink_settings(broker.port), tmp_path / "kiosk.db", "330100", "K001") as up:
            ids = enqueue_many(store, outbox, 2000)
            up.wake()
            assert up.wait_drained(DRAIN_TIMEOUT_S), up.stats()
        # collector-0 holds its share received but uncommitted (a 3 s batch window).
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(5)
        assert stored_count(pg_url) < 2000, "the kill should land before collector-0's commit"
        procs[0] = _spawn_collector(pg_url, broker.port, "collector-0", batch_wait_s=0.05)
        wait_until(lambda: stored_count(pg_url) >= 2000, DRAIN_TIMEOUT_S, "redelivery")
        time.sleep(0.5)  # a duplicate would show up within one batch window
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(10) for proc in procs]
    assert codes == [0, 0]
    assert_exactly_once(pg_url, ids)
    tables = {"certificate.issued": "certificates", "certificate.voided": "certificate_voids",
              "rapidtest.result": "rapid_tests", "hold.placed": "holds",
              "hold.lifted": "hold_lifts"}  # fmt: skip
    with Database(pg_url) as db:
        kinds = dict(db.query("SELECT schema_name, count(*) FROM events GROUP BY schema_name"))
        projected = {s: db.query(f"SELECT count(*) FROM {t}")[0][0] for s, t in tables.items()}
    assert all(projected[s] == kinds[s] > 0 for s in projected), (projected, kinds)
    store.close()


def test_a_window_answered_no_subscribers_holds_the_drain_once(tmp_path, broker_factory):  # noqa: F811
    """After a broker restart Mosquitto has no shared subscription until the collectors
    resubscribe: a whole window comes back PUBACK 0x10. That is one burst and one short
    hold, not a backoff doubled per event (which held kiosks at the 8x cap, 40 s)."""
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db = tmp_path / "station.db"
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    ids = enqueue_many(store, outbox, 300)
    settings = uplink_settings(broker.port, no_subscriber_retry_s=2.0, inflight_window=100)
    with Uplink(settings, tmp_path / "kiosk.db", "330100", "K001") as uplink:
        wait_until(lambda: uplink.stats().undelivered >= 100, 10, "a window answered 0x10")
        time.sleep(0.2)  # the rest of the window's answers
        stats = uplink.stats()
        # One hold per window of 100 answers (a slow machine may be on its second by
        # now); held per event, it was one per 0x10.
        assert 1 <= stats.pauses <= stats.undelivered // 100 + 1, stats
        assert "acked" not in outbox_states(store)  # the county has none of them yet
        with Collector(collector_settings(broker.port), station_db) as collector:
            assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
            wait_until(lambda: collector.stats().stored >= 300, DRAIN_TIMEOUT_S, "300 stored")
        stats = uplink.stats()
        assert stats.pauses <= stats.undelivered // 100 + 1, stats
    store.close()
    assert_exactly_once(station_db, ids)
