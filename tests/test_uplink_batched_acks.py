"""Acknowledgements written in batches: an event is marked acked only after its PUBACK,
and a crash between the PUBACK and the batched UPDATE costs a resend, never an event.

Real Mosquitto, a real collector, the uplink as its own process (killed with SIGKILL).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import ROOT, collector_settings, enqueue_many, open_kiosk, wait_until
from test_uplink_delivery import (
    BROKER_CONFIG,
    DRAIN_TIMEOUT_S,
    assert_exactly_once,
    outbox_states,
    uplink_settings,
)

from kiosk.infra.uplink import Uplink
from station.collector import Collector


def _spawn_uplink(db: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk.infra.uplink", "--db", str(db), "--county", "330100",
         "--device", "K001", "--host", "127.0.0.1", "--port", str(port),
         "--reconnect-min", "0.1", "--poll", "0.5", *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_crash_before_the_batched_update_resends_and_the_county_stores_once(
    tmp_path,
    broker_factory,  # noqa: F811
):
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db, kiosk_db = tmp_path / "station.db", tmp_path / "kiosk.db"
    store, outbox = open_kiosk(kiosk_db)
    ids = enqueue_many(store, outbox, 4000)  # below the backlog alarm (its events)
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        # Window 1 keeps the drain going for seconds; acks are held for the whole of it.
        proc = _spawn_uplink(kiosk_db, broker.port, "--window", "1", "--ack-flush", "600",
                             "--ack-batch", "1000000")  # fmt: skip
        try:
            wait_until(lambda: collector.stats().stored >= 300, 15, "drain under way")
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            # The county holds events the kiosk had PUBACKs for, but none is marked yet.
            assert "acked" not in outbox_states(store)
            held = collector.stats().stored
            assert held >= 300
            proc = _spawn_uplink(kiosk_db, broker.port)
            wait_until(
                lambda: outbox_states(store) == {"acked": 4000}, DRAIN_TIMEOUT_S, "all acked"
            )
            wait_until(lambda: collector.stats().stored >= 4000, DRAIN_TIMEOUT_S, "all stored")
            # Everything the kiosk had not marked went out again and was dropped as known.
            wait_until(lambda: collector.stats().duplicates >= held, 5, "duplicates counted")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    assert_exactly_once(station_db, ids)
    store.close()


def test_acks_in_hand_are_written_in_one_update_once_nothing_is_in_flight(
    tmp_path,
    broker_factory,  # noqa: F811
):
    """Neither the batch size nor the flush interval is reached: the drain's end writes."""
    broker = broker_factory(extra_config=BROKER_CONFIG)
    station_db, kiosk_db = tmp_path / "station.db", tmp_path / "kiosk.db"
    store, outbox = open_kiosk(kiosk_db)
    ids = enqueue_many(store, outbox, 1000)
    settings = uplink_settings(broker.port, ack_flush_s=3600.0, ack_batch=1_000_000)
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        with Uplink(settings, kiosk_db, "330100", "K001") as uplink:
            assert uplink.wait_drained(DRAIN_TIMEOUT_S), uplink.stats()
            assert uplink.stats().acked == 1000
        wait_until(lambda: collector.stats().stored >= 1000, DRAIN_TIMEOUT_S, "all stored")
    rows = store.conn.execute("SELECT DISTINCT acked_at, attempts, state FROM outbox").fetchall()
    assert len(rows) == 1, "one UPDATE for the whole drain"
    assert rows[0][1:] == (1, "acked")
    assert_exactly_once(station_db, ids)
    store.close()
