"""Issue 17 item 3: the set-based store path (COPY into a staging table and INSERT ...
SELECT ... ON CONFLICT DO NOTHING on PostgreSQL, executemany on SQLite) keeps every
guarantee of the row-at-a-time path it replaced, on both stores: duplicates inside a
batch and across batches are counted once, a known id with another body is a
conflict, a row the store refuses inside a staged batch is isolated and quarantined
while the rest is stored and projected, another kiosk's number is refused, and a
PostgreSQL backend terminated in the middle of a batch loses and doubles nothing."""

from __future__ import annotations

import json
import os
import time

import psycopg
from support.postgres import PG_URL
from support.uplink import collector_settings, wait_until

from station.collector import Collector
from station.db import Database, Event
from station.intake import parse_event
from wire.events import schema_book
from wire.topics import PREFIX, parse_topic

from .intake_rig import T, envelope

CERT = T + "certificate"


def _cert(seq: int, **data: object) -> bytes:
    return json.dumps(envelope("certificate.issued", seq, **data), ensure_ascii=False).encode()


def _event(payload: bytes) -> Event:
    """As the collector makes it: parsed and validated from the wire."""
    return parse_event(schema_book(), parse_topic(CERT, PREFIX), payload)


def _tables(url: str) -> tuple[int, int, int]:
    with Database(url) as db:
        [(events,)] = db.query("SELECT count(*) FROM events")
        [(certs,)] = db.query("SELECT count(*) FROM certificates")
        [(quarantined,)] = db.query("SELECT count(*) FROM quarantine")
    return int(events), int(certs), int(quarantined)


def test_duplicates_inside_a_batch_and_across_batches(store_url):
    a, b, c = _event(_cert(1)), _event(_cert(2)), _event(_cert(3))
    # The same document with other spacing is the same body (a redelivery).
    a_again = _event(json.dumps(json.loads(_cert(1)), indent=1).encode())
    a_other = _event(_cert(1, product_name="小白菜"))  # K001:1 with another body
    with Database(store_url) as db:
        first = db.store([a, a_again, b, a_other, b])
        second = db.store([b, c, a, a_other])
    assert (first.new, first.duplicates, [e.event_id for e in first.conflicts]) == (
        2, 2, ["K001:1"])  # fmt: skip
    assert (second.new, second.duplicates, [e.event_id for e in second.conflicts]) == (
        1, 2, ["K001:1"])  # fmt: skip
    with Database(store_url) as db:
        rows = db.query("SELECT event_id FROM events ORDER BY seq")
        names = db.query("SELECT number, product_name FROM certificates ORDER BY number")
        reasons = db.query("SELECT reason FROM quarantine")
        [alarm] = db.intake_alarms()
    assert rows == [("K001:1",), ("K001:2",), ("K001:3",)]
    assert names[0] == ("330100-K001-0000001", a.data["product_name"])  # the first body kept
    assert len(names) == 3
    assert len(reasons) == 2 and all("conflict" in r for (r,) in reasons)
    assert alarm[2] == "event_conflict" and alarm[6] == 2


def test_a_batch_of_redeliveries_through_the_collector_stores_each_once(
    store_url, broker_factory, publisher
):
    broker = broker_factory()
    settings = collector_settings(broker.port, batch_wait_s=1.0)
    with Collector(settings, store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 31):
            pub.send(CERT, _cert(seq))
            pub.send(CERT, _cert(seq))  # in the same batch
        wait_until(lambda: collector.stats().received >= 60, 15, "all 60 messages")
        for seq in range(1, 11):
            pub.send(CERT, _cert(seq))  # a later batch
        wait_until(lambda: collector.stats().received >= 70, 15, "the redeliveries")
        stats = collector.stats()
    assert (stats.stored, stats.duplicates, stats.conflicts, stats.quarantined) == (30, 40, 0, 0)
    assert _tables(store_url) == (30, 30, 0)


def _refuse_certificate_seven(url: str) -> None:
    """A refusal in a projection, not in ``events``: it comes from the second staged
    insert of the batch."""
    number = "330100-K001-0000007"
    with Database(url) as db:
        if db.url.startswith("postgresql"):
            db.execute(f"ALTER TABLE certificates ADD CONSTRAINT refuse_seven "
                       f"CHECK (number <> '{number}')")  # fmt: skip
        else:
            db.execute(f"CREATE TRIGGER refuse_seven BEFORE INSERT ON certificates "
                       f"WHEN NEW.number = '{number}' "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END")  # fmt: skip


def test_a_refused_row_in_a_staged_batch_is_isolated_and_the_rest_stored(
    store_url, broker_factory, publisher
):
    _refuse_certificate_seven(store_url)
    broker = broker_factory()
    settings = collector_settings(broker.port, batch_wait_s=1.5)
    with Collector(settings, store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 41):
            pub.send(CERT, _cert(seq))
        wait_until(lambda: collector.stats().received >= 40, 15, "all messages")
        stats = collector.stats()
        assert collector.healthy
        assert (stats.stored, stats.quarantined, stats.store_faults) == (39, 1, 0), stats
        assert stats.batches <= 2, "split inside the batch, not retried"
    with Database(store_url) as db:
        [(reason, payload)] = db.query("SELECT reason, payload FROM quarantine")
        assert db.query("SELECT count(*) FROM events WHERE seq = 7") == [(0,)]
    assert reason.startswith("store refused:"), reason
    assert json.loads(bytes(payload))["seq"] == 7
    assert _tables(store_url) == (39, 39, 1)  # its event row went with it


def test_another_kiosks_number_in_a_batch_is_refused_alone(store_url, broker_factory, publisher):
    broker = broker_factory()
    settings = collector_settings(broker.port, batch_wait_s=1.0)
    with Collector(settings, store_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 21):
            if seq == 11:  # K001 claims K002's certificate number
                pub.send(CERT, _cert(seq, number="330100-K002-0000011"))
            else:
                pub.send(CERT, _cert(seq))
        wait_until(lambda: collector.stats().received >= 20, 15, "all messages")
        stats = collector.stats()
    assert (stats.stored, stats.quarantined) == (19, 1), stats
    with Database(store_url) as db:
        [(reason,)] = db.query("SELECT reason FROM quarantine")
        taken = db.query("SELECT count(*) FROM certificates WHERE number = '330100-K002-0000011'")
        assert taken == [(0,)]
    assert "is not 330100/K001's" in reason, reason
    assert _tables(store_url) == (19, 19, 1)


def test_postgres_backend_terminated_in_the_middle_of_a_batch(pg_url, broker_factory, publisher):
    """The backend is cut while it runs the batch's INSERT ... SELECT (held there by a
    trigger that sleeps once): the collector reconnects, stages the whole batch again on
    the new connection (its staging tables died with the old one) and stores it once."""
    app = f"collector-{os.getpid()}-{time.monotonic_ns()}"
    with Database(pg_url) as db:
        db.execute("CREATE SEQUENCE slow_once")
        db.execute(
            "CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.seq = 10 AND nextval('slow_once') = 1 THEN PERFORM pg_sleep(30); END IF; "
            "RETURN NEW; END $$"
        )
        db.execute("CREATE TRIGGER slow_once BEFORE INSERT ON events "
                   "FOR EACH ROW EXECUTE FUNCTION slow_once()")  # fmt: skip
    broker = broker_factory()
    settings = collector_settings(broker.port, batch_wait_s=1.0, store_retry_min_s=0.1)
    with Collector(settings, f"{pg_url}&application_name={app}") as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 31):
            pub.send(CERT, _cert(seq))
        with psycopg.connect(PG_URL, autocommit=True) as admin:

            def sleeping() -> list[int]:
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                    "AND query LIKE 'INSERT INTO events%%' AND wait_event = 'PgSleep'",
                    [app],
                ).fetchall()
                return [int(r[0]) for r in rows]

            wait_until(lambda: bool(sleeping()), 15, "the batch's insert, held mid-batch")
            assert collector.stats().stored == 0
            for pid in sleeping():
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_until(lambda: collector.stats().stored >= 30, 20, "the batch after reconnecting")
        stats = collector.stats()
    assert collector.stats().store_faults >= 1
    assert (stats.stored, stats.duplicates, stats.quarantined) == (30, 0, 0), stats
    assert _tables(pg_url) == (30, 30, 0)
