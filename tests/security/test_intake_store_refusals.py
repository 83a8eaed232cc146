"""What the PostgreSQL store refuses: the message's fault, or the store's?

Real Mosquitto, real collector, real PostgreSQL. ``is_connection_fault`` decides: a
fault of the store is retried on a new connection with nothing acknowledged; anything
else splits the batch until the refused message is alone and quarantines it (and if even
its quarantine row is refused, acknowledges and counts it). Before the fix both
directions were wrong: an index row too big (SQLSTATE 54000, an ``OperationalError``)
from one kiosk's certificate was retried forever, so that message wedged the county's
intake, again after every restart; and a store turned read-only (25006, a hot standby
after a failover, ``default_transaction_read_only``) was taken for bad data, so every
event was refused, then its quarantine row too, and all were acknowledged and lost."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from support.postgres import PG_URL
from support.uplink import collector_settings, wait_until

from station.collector import Collector
from station.db import Database, is_connection_fault

from .intake_rig import T, envelope, good


def _astral(rng: random.Random, length: int) -> str:
    """``length`` CJK Extension B characters: 4 UTF-8 bytes each, and incompressible."""
    return "".join(chr(rng.randrange(0x20000, 0x2A6E0)) for _ in range(length))


def test_an_index_row_too_big_is_quarantined_not_retried_forever(pg_url, broker_factory, publisher):
    """Every field within its schema's maxLength, but 848 four-byte characters in the
    columns of ``certificates_window`` make a 3,184-byte index row (btree allows 2,704)."""
    rng = random.Random(11)
    doc = envelope("certificate.issued", 3, township=_astral(rng, 200),
                   product_code=_astral(rng, 128), product_name=_astral(rng, 200),
                   unit=_astral(rng, 128), producer_key=_astral(rng, 128))  # fmt: skip
    payload = json.dumps(doc, ensure_ascii=False).encode()
    broker = broker_factory()
    settings = collector_settings(broker.port, store_retry_min_s=0.1, store_retry_max_s=0.5)
    with Collector(settings, pg_url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send(T + "certificate", payload)
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().received >= 2, 15, "both messages stored")
        stats = collector.stats()
        assert collector.healthy
        assert (stats.quarantined, stats.stored, stats.dropped) == (1, 1, 0), stats
    with Database(pg_url) as db:
        [(reason,)] = db.query("SELECT reason FROM quarantine")
        assert "index row size" in reason, reason
        assert db.query("SELECT event_id FROM events") == [("K001:1",)]


@pytest.fixture
def collector_role(pg_url: str) -> Iterator[tuple[str, str]]:
    """A login role of its own with every right on the test's schema, so that it alone
    can be made read-only; yields (role, its URL)."""
    Database(pg_url).close()  # migrated by the owner first
    role = f"collector_{uuid.uuid4().hex[:10]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        for grant in (f"ALL ON SCHEMA {schema}", f"ALL ON ALL TABLES IN SCHEMA {schema}",
                      f"ALL ON ALL SEQUENCES IN SCHEMA {schema}"):  # fmt: skip
            admin.execute(f"GRANT {grant} TO {role}")
    url = pg_url.replace("postgres@", f"{role}@", 1)
    try:
        yield role, f"{url}&application_name={role}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def _set_read_only(role: str, on: bool, *, cut: bool) -> None:
    """What a failover to a standby looks like to the collector: its connection cut, and
    every new one read-only (``cut`` ends the role's open sessions)."""
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        if on:
            admin.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        else:
            admin.execute(f"ALTER ROLE {role} RESET default_transaction_read_only")
        if cut:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )


def test_a_store_turned_read_only_is_waited_for_and_nothing_is_lost(
    pg_url, collector_role, broker_factory, publisher
):
    role, url = collector_role
    broker = broker_factory()
    settings = collector_settings(broker.port, store_retry_min_s=0.1, store_retry_max_s=0.5)
    with Collector(settings, url) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        pub.send(T + "alarm", good(1))
        wait_until(lambda: collector.stats().stored >= 1, 10, "the first event")
        _set_read_only(role, True, cut=True)
        for seq in range(2, 7):
            pub.send(T + "alarm", good(seq))
        # Read-only: retried on new connections, or (before the fix) refused and acked.
        wait_until(
            lambda: collector.stats().store_faults >= 4 or collector.stats().received >= 6,
            15,
            "the read-only store refusing the batch",
        )
        time.sleep(0.3)
        stats = collector.stats()
        assert (stats.dropped, stats.quarantined) == (0, 0), stats
        _set_read_only(role, False, cut=False)  # the next retry reconnects
        wait_until(lambda: collector.stats().stored >= 6, 20, "every event once writable")
        stats = collector.stats()
        assert collector.healthy and (stats.dropped, stats.quarantined) == (0, 0), stats
    with Database(pg_url) as db:
        assert db.query("SELECT count(*), min(seq), max(seq) FROM events") == [(6, 1, 6)]


def test_the_store_state_errors_are_faults_and_the_data_errors_are_not(pg_url) -> None:
    """Raised by a real server: read-only (25006) and a lost privilege (42501) are the
    store's; an index row too big (54000) and a constraint (23505) are the message's."""
    app = f"refusals-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    with Database(f"{pg_url}&application_name={app}") as db:
        caught: dict[str, BaseException] = {}

        def run(name: str, *statements: str) -> None:
            try:
                for sql in statements:
                    db.execute(sql)
            except psycopg.Error as error:
                caught[name] = error
            db.conn.rollback()

        run("read_only", "SET TRANSACTION READ ONLY",
            "INSERT INTO schema_migrations VALUES (999, 'x', 'y')")  # fmt: skip
        run("duplicate", "INSERT INTO schema_migrations VALUES (999, 'x', 'y')",
            "INSERT INTO schema_migrations VALUES (999, 'x', 'y')")  # fmt: skip
        big = _astral(random.Random(3), 900)
        run("index_row", "CREATE TEMPORARY TABLE wide (t TEXT PRIMARY KEY)",
            f"INSERT INTO wide VALUES ('{big}')")  # fmt: skip
        run("privilege", "SET LOCAL ROLE pg_read_all_data",
            "INSERT INTO schema_migrations VALUES (998, 'x', 'y')")  # fmt: skip
    assert {name: e.sqlstate for name, e in caught.items()} == {
        "read_only": "25006", "duplicate": "23505", "index_row": "54000", "privilege": "42501"
    }  # fmt: skip
    assert is_connection_fault(caught["read_only"]) and is_connection_fault(caught["privilege"])
    assert not is_connection_fault(caught["duplicate"])
    assert not is_connection_fault(caught["index_row"])


def _corrupt_table(path: str, table: str) -> None:
    """Overwrite the root page of ``table`` in a closed SQLite file with junk: what a
    failing disk or a torn copy leaves (``database disk image is malformed``)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table])
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(random.Random(5).randbytes(page_size))


def test_a_corrupt_sqlite_store_is_a_fault_and_loses_nothing(tmp_path, broker_factory, publisher):
    """Before: SQLITE_CORRUPT is a plain ``sqlite3.DatabaseError``, taken for bad data:
    every event refused, its quarantine row too, then acknowledged and lost."""
    path = str(tmp_path / "county.db")
    Database(path).close()
    _corrupt_table(path, "events")
    broker = broker_factory()
    settings = collector_settings(broker.port, store_retry_min_s=0.1, store_retry_max_s=0.3)
    with Collector(settings, path) as collector:
        wait_until(lambda: collector.stats().connected, 10, "collector connected")
        pub = publisher(broker.port)
        for seq in range(1, 6):
            pub.send(T + "alarm", good(seq))
        wait_until(
            lambda: collector.stats().store_faults >= 3 or collector.stats().received >= 5,
            15,
            "the corrupt store refusing the batch",
        )
        stats = collector.stats()
        assert (stats.received, stats.dropped, stats.quarantined) == (0, 0, 0), stats
    # The DBA restores the store: the five events, never acknowledged, come back.
    os.replace(path, f"{path}.corrupt")
    Database(path).close()
    with Collector(settings, path) as collector:
        wait_until(lambda: collector.stats().stored >= 5, 20, "every event redelivered")
    with Database(path) as db:
        assert db.query("SELECT count(*), min(seq), max(seq) FROM events") == [(5, 1, 5)]
