"""Two collectors writing to one PostgreSQL store at once keep the rollups exact
(station/rollups.py, ``maintained``), and wait for each other only where their batches
touch the same keys.

The races are forced, not left to luck: one connection's transaction is held open at a
hook (before its commit, or before its rollup counters) until the other connection's
store has either committed or is waiting on one of the held transaction's locks
(``pg_stat_activity``), and only then let go. Without the upkeep's locks every round
below loses a void, double-counts a producer or a sample, or mislinks a member's days.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from support.postgres import PG_URL
from test_station_rollups import COUNTIES, Stream, assert_same_figures, snapshot

from station import rollups
from station.db import Database, Event, is_connection_fault

#: How long a held transaction waits for the other store to finish or block.
SETTLE_S = 30.0


def _waiting_on_lock(admin: psycopg.Connection[Any], pid: int) -> bool:
    row = admin.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()
    return row is not None and row[0] == "Lock"


@contextmanager
def _held_at(
    db: Database, hook: str, reached: threading.Event, release: threading.Event
) -> Iterator[None]:
    """``db``'s next store stops at ``hook`` ("commit": every statement run, nothing
    committed; "counters": before the rollup counter upsert) until ``release``."""

    def hold() -> None:
        reached.set()
        if not release.wait(SETTLE_S * 2):
            raise AssertionError("the held transaction was never released")

    if hook == "commit":
        original = db._commit

        def commit() -> None:
            hold()
            original()

        db._commit = commit  # type: ignore[method-assign]
        try:
            yield
        finally:
            del db._commit
        return
    write = rollups._Deltas.write

    def counters(self: rollups._Deltas, target: Database) -> None:
        if target is db and not reached.is_set():
            hold()
        write(self, target)

    rollups._Deltas.write = counters  # type: ignore[method-assign]
    try:
        yield
    finally:
        rollups._Deltas.write = write  # type: ignore[method-assign]


def race(
    admin: psycopg.Connection[Any],
    first: Database,
    first_batch: list[Event],
    second: Database,
    second_batch: list[Event],
    hook: str = "commit",
) -> str:
    """Store ``first_batch`` on ``first`` up to ``hook``, then ``second_batch`` on
    ``second`` while ``first``'s transaction is open; let ``first`` go once ``second``
    has committed ("finished") or waits on a lock ("waited"), which is returned."""
    reached, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run(store: Callable[[], object]) -> Callable[[], None]:
        def target() -> None:
            try:
                store()
            except BaseException as error:
                errors.append(error)
                reached.set()  # a failure before the hook must not hang the test

        return target

    with _held_at(first, hook, reached, release):
        one = threading.Thread(target=run(lambda: first.store_batch(first_batch)))
        one.start()
        assert reached.wait(SETTLE_S), "the first store never reached its hook"
        two = threading.Thread(target=run(lambda: second.store_batch(second_batch)))
        pid = second.conn.info.backend_pid
        two.start()
        deadline = time.monotonic() + SETTLE_S
        outcome = ""
        while not outcome:
            two.join(0.005)
            if not two.is_alive():
                outcome = "finished"
            elif _waiting_on_lock(admin, pid):
                outcome = "waited"
            elif time.monotonic() > deadline:
                outcome = "stuck"
        release.set()
        one.join(SETTLE_S)
        two.join(SETTLE_S)
    if errors:
        raise errors[0]
    assert outcome != "stuck", "the second store neither finished nor waited on a lock"
    return outcome


def _retest(stream: Stream, of: Event, day: str, verdict: str) -> Event:
    """A run of ``of``'s sample sent by ``stream`` (another connection's kiosk feed)."""
    data = dict(of.data)
    data.update(test_id=f"T{stream.rng.randrange(10**9)}", finished_at=f"{day}T11:00:00+08:00",
                verdict=verdict, sample_id=of.data["sample_id"] or of.data["test_id"])  # fmt: skip
    return stream._event(of.county, of.device, "rapidtest.result", data)


def _twin(stream: Stream, of: Event) -> Event:
    """Another certificate of ``of``'s producer, product and day (the same member and day
    stored by the other connection)."""
    number = f"{of.county}-K009-{stream.base + len(stream.numbers):07d}"
    stream.numbers.append((of.county, number))
    return stream._event(of.county, "K009", "certificate.issued", {**of.data, "number": number})


def _void(stream: Stream, county: str, number: str) -> Event:
    return stream._event(county, "K001", "certificate.voided",
                         {"number": number, "reason": "数量填错"})  # fmt: skip


def _rounds(seed: int, count: int) -> Iterator[tuple[list[Event], list[Event]]]:
    """Pairs of batches whose keys overlap in every way the upkeep must handle."""
    rng = random.Random(seed)
    a, b = Stream(seed), Stream(seed + 1)
    # Certificates the other side will store in the next round: voided before them.
    upcoming: dict[int, list[Event]] = {0: [], 1: []}
    earlier: dict[int, list[Event]] = {0: [], 1: []}
    for rounds in range(count):
        batches: tuple[list[Event], list[Event]] = ([], [])
        for side, (own, other) in enumerate(((a, b), (b, a))):
            batch = batches[side]
            certs = upcoming[side] + [own.certificate() for _ in range(30)]
            upcoming[side] = [own.certificate() for _ in range(2)]
            batch += certs
            tests = [own.rapid_test() for _ in range(10)]
            batch += tests
            mine = batches[side]
            theirs = batches[1 - side]
            # The other side voids some of these certificates in the same round, and
            # the certificates of the next round before they are stored.
            for c in rng.sample(certs, 4) + upcoming[side]:
                theirs.append(_void(other, c.county, c.data["number"]))
            # The same producer on the same day, and other days, from the other side.
            for c in rng.sample(certs, 3):
                theirs.append(_twin(other, c))
            # The same samples re-run by the other side: positives, same and other days.
            for t in rng.sample(tests, 4):
                day = rng.choice((t.data["finished_at"][:10], certs[0].data["issued_at"][:10]))
                theirs.append(_retest(other, t, day, rng.choice(("positive", "negative"))))
            # Redeliveries to the other connection: of events stored in the round
            # before, and in every third round of this round's (the second store then
            # waits at the event's unique key whatever the upkeep does).
            if earlier[side]:
                theirs += rng.sample(earlier[side], 3)
            if rounds % 3 == 2:
                theirs += rng.sample(mine, 3)
        for side, batch in enumerate(batches):
            earlier[side] = list(batch)
            rng.shuffle(batch)
        yield batches


@pytest.fixture
def admin() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        yield conn


def test_two_connections_racing_keep_the_rollups_exact(
    pg_url: str, admin: psycopg.Connection[Any]
) -> None:
    """Rounds of overlapping batches, each side in turn held open while the other
    stores: every rollup figure equals the raw rows', and the backfill agrees."""
    with Database(pg_url) as one, Database(pg_url) as two:
        outcomes = []
        for n, (mine, theirs) in enumerate(_rounds(seed=4242, count=12)):
            first, second = (one, two) if n % 2 == 0 else (two, one)
            hook = "commit" if n % 4 < 2 else "counters"
            outcomes.append(race(admin, first, mine, second, theirs, hook))
        one.execute(
            "INSERT INTO devices (county, device_id, township, service_point, enrolled_at) "
            "VALUES (?, 'K001', '甲镇', '点', '2025-01-01'), (?, 'K002', '乙镇', '点', "
            "'2025-01-01')",
            list(COUNTIES[:1]) * 2,
        )
        one.query("SELECT 1")
        assert one.query("SELECT count(*) FROM certificate_voids")[0][0] >= 120
        voided = one.query(
            "SELECT count(*) FROM certificate_voids v JOIN certificates c "
            "ON c.county = v.county AND c.number = v.number"
        )[0][0]
        assert voided >= 100
        assert_same_figures(one, seed=42)
        kept = snapshot(one)
        rollups.rebuild(one)
        assert snapshot(one) == kept
        # Every round overlapped: the second store had to wait for the first.
        assert outcomes == ["waited"] * 12, outcomes


def test_two_connections_storing_freely_neither_deadlock_nor_drift(pg_url: str) -> None:
    """The same kind of overlapping rounds without a forced order: both stores start at
    a barrier and run as the server schedules them. A deadlock would raise here (the
    lock order of ``Database.store`` rules it out), and the figures stay exact."""
    rounds = list(_rounds(seed=777, count=16))
    barrier = threading.Barrier(2, timeout=SETTLE_S)
    errors: list[BaseException] = []

    def run(db: Database, side: int) -> None:
        try:
            for batches in rounds:
                barrier.wait()
                db.store_batch(batches[side])
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    with Database(pg_url) as one, Database(pg_url) as two:
        threads = [threading.Thread(target=run, args=(db, side))
                   for side, db in enumerate((one, two))]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SETTLE_S * 4)
        assert not errors, errors
        stored = one.query("SELECT count(*) FROM certificates")[0][0]
        assert stored > 16 * 60
        kept = snapshot(one)
        rollups.rebuild(one)
        assert snapshot(one) == kept


@pytest.mark.parametrize("void_first", [False, True])
def test_a_certificate_and_its_void_stored_at_once_count_the_void(
    pg_url: str, admin: psycopg.Connection[Any], void_first: bool
) -> None:
    """Each transaction looks up the other table before the other commits: without a
    shared lock neither saw the other's row and the void was never counted (0 of 10)."""
    a, b = Stream(31), Stream(32)
    certs = [a.certificate() for _ in range(20)]
    voids = [_void(b, c.county, c.data["number"]) for c in certs[:10]]
    with Database(pg_url) as one, Database(pg_url) as two:
        if void_first:
            outcome = race(admin, two, voids, one, certs)
        else:
            outcome = race(admin, one, certs, two, voids)
        raw = one.query(
            "SELECT count(*) FROM certificate_voids v JOIN certificates c "
            "ON c.county = v.county AND c.number = v.number"
        )[0][0]
        rolled = one.query(
            "SELECT sum(voided) FROM rollup_certificates WHERE grain = 'Y' AND township = '*'"
        )[0][0]
        assert (raw, rolled) == (10, 10)
        assert outcome == "waited"


def test_days_of_one_member_stored_at_once_link_in_order(
    pg_url: str, admin: psycopg.Connection[Any]
) -> None:
    """A producer's and a sample's other days stored by two transactions at once: each
    read the member's neighbouring days without the other's, so both called their day
    the latest (the producer counted twice) and neither linked to the other."""
    a, b = Stream(41), Stream(42)
    first = [a.certificate() for _ in range(10)]
    tests = [a.rapid_test() for _ in range(6)]
    second = []
    for c in first:
        later = date.fromisoformat(c.data["issued_at"][:10]) + timedelta(days=3)
        twin = _twin(b, c)
        data = {**twin.data, "issued_at": f"{later.isoformat()}T09:00:00+08:00"}
        second.append(b._event(twin.county, twin.device, twin.schema, data))
    for t in tests:
        later = date.fromisoformat(t.data["finished_at"][:10]) + timedelta(days=2)
        second.append(_retest(b, t, later.isoformat(), "positive"))
    with Database(pg_url) as one, Database(pg_url) as two:
        outcome = race(admin, one, first + tests, two, second)
        kept = snapshot(one)
        rollups.rebuild(one)
        assert snapshot(one) == kept
        assert outcome == "waited"


def _disjoint_batch(seed: int, tag: str, county: str = COUNTIES[0]) -> list[Event]:
    """Certificates and tests whose numbers, producers and samples no one else uses."""
    stream = Stream(seed)
    events = []
    for i in range(20):
        c = stream.certificate()
        data = {**c.data, "number": f"{tag}-{i}", "producer_key": f"tel:{tag}-{i % 5}"}
        events.append(stream._event(county, c.device, c.schema, data))
        t = stream.rapid_test()
        data = {**t.data, "test_id": f"{tag}-T{i}", "sample_id": f"{tag}-S{i % 7}"}
        events.append(stream._event(county, t.device, t.schema, data))
    return events


def test_disjoint_producers_do_not_wait_for_each_other(
    pg_url: str, admin: psycopg.Connection[Any]
) -> None:
    """One connection holds its transaction open with its projection, member days and
    locks done; another connection stores other producers' certificates and other
    samples of the same county and days, and commits meanwhile."""
    tag = uuid.uuid4().hex[:10]
    with Database(pg_url) as one, Database(pg_url) as two:
        first, second = _disjoint_batch(1, f"a{tag}"), _disjoint_batch(2, f"b{tag}")
        assert race(admin, one, first, two, second, hook="counters") == "finished"
        assert one.count_events() == 80
        kept = snapshot(one)
        rollups.rebuild(one)
        assert snapshot(one) == kept


def test_a_deadlock_is_a_fault_to_retry_not_a_data_refusal(pg_url: str) -> None:
    """The server's deadlock detector (40P01) makes the collector retry the whole batch
    on a new connection (``is_connection_fault``), never split and quarantine it."""
    key = random.randrange(1, 2**31)
    with psycopg.connect(pg_url) as a, psycopg.connect(pg_url) as b:
        a.execute("SELECT pg_advisory_xact_lock(1, %s)", [key])
        b.execute("SELECT pg_advisory_xact_lock(1, %s)", [key + 1])
        failures: list[BaseException] = []

        def cross(conn: psycopg.Connection[Any], other: int) -> None:
            try:
                conn.execute("SELECT pg_advisory_xact_lock(1, %s)", [other])
            except psycopg.Error as error:
                failures.append(error)
                conn.rollback()

        thread = threading.Thread(target=cross, args=(a, key + 1))
        thread.start()
        cross(b, key)
        thread.join(30)
        a.rollback()
        b.rollback()
    assert len(failures) == 1
    assert isinstance(failures[0], psycopg.errors.DeadlockDetected)
    assert is_connection_fault(failures[0])
    serialization = psycopg.errors.SerializationFailure("could not serialize")
    assert is_connection_fault(serialization)


def test_lock_keys_join_a_certificate_and_its_void_and_fit_postgresql_int4() -> None:
    stream = Stream(51)
    cert = stream.certificate()
    void = _void(stream, cert.county, cert.data["number"])
    other = _void(stream, cert.county, cert.data["number"] + "x")
    assert set(rollups.lock_keys([void])) < set(rollups.lock_keys([cert]))  # + its producer
    assert not set(rollups.lock_keys([other])) & set(rollups.lock_keys([cert]))
    tests = [stream.rapid_test() for _ in range(200)]
    keys = rollups.lock_keys([cert, *tests])
    assert keys == sorted(set(keys))
    assert all(-(2**31) <= k < 2**31 for k in keys)
    # The same keys in another process (another string hash seed): collectors agree.
    code = (
        f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
        "from station import rollups; "
        "from test_rollups_concurrency import Stream; s = Stream(51); "
        "print(rollups.lock_keys([s.certificate()]))"
    )
    other_process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )  # fmt: skip
    assert other_process.stdout.strip() == str(rollups.lock_keys([cert]))


@pytest.mark.parametrize("hook", ["commit", "counters"])
def test_a_rebuild_while_a_collector_stores_keeps_the_rollups_exact(
    pg_url: str, admin: psycopg.Connection[Any], hook: str
) -> None:
    """``rollups.rebuild`` (an operator's, after a bulk load) while a collector's batch
    is open at ``hook``: the rebuild reads the raw rows without the open batch, and
    the batch adds its own counts after it; neither may fail or count twice."""
    a = Stream(61)
    before = [a.certificate() for _ in range(40)] + [a.rapid_test() for _ in range(10)]
    batch = [a.certificate() for _ in range(40)] + [a.rapid_test() for _ in range(10)]
    numbers = {(e.county, e.data["number"]) for e in before + batch if "number" in e.data}
    with Database(pg_url) as one, Database(pg_url) as two:
        one.store_batch(before)
        reached, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def run(action: Callable[[], object]) -> threading.Thread:
            def target() -> None:
                try:
                    action()
                except BaseException as error:
                    errors.append(error)
                    reached.set()

            thread = threading.Thread(target=target)
            thread.start()
            return thread

        with _held_at(one, hook, reached, release):
            storing = run(lambda: one.store_batch(batch))
            assert reached.wait(SETTLE_S), "the store never reached its hook"
            rebuilding = run(lambda: rollups.rebuild(two))
            pid, deadline = two.conn.info.backend_pid, time.monotonic() + SETTLE_S
            while rebuilding.is_alive() and not _waiting_on_lock(admin, pid):
                assert time.monotonic() < deadline, "the rebuild neither finished nor waited"
                rebuilding.join(0.005)
            release.set()
            storing.join(SETTLE_S)
            rebuilding.join(SETTLE_S)
        assert not errors, errors
        assert one.query("SELECT count(*) FROM certificates")[0][0] == len(numbers)
        assert_same_figures(one, seed=61)
        kept = snapshot(one)
        rollups.rebuild(one)
        assert snapshot(one) == kept
