"""The county collector: shared-subscription consumer that stores each event exactly once.

paho runs with ``manual_ack=True``: the network thread only queues messages; a
writer thread validates a batch, commits it, and only then sends the PUBACKs.
A collector killed before its commit never acknowledged those messages, so the
broker redelivers them (to this client id when it returns with its persistent
session, or to another member of the group). Redeliveries are absorbed by the
unique constraints, so the database holds each event once.

Nothing a sender puts in a message can stop or wedge the writer (docs/security.md):
every message is parsed under a guard and anything unreadable is quarantined with the
reason; a batch the store refuses is split until the message it refuses is isolated
and quarantined; per-device budgets (a token bucket on every message, a cap on stored
quarantine rows per hour) count a flood instead of storing it and raise one alarm per
device; a lost store connection is reopened with backoff while nothing is acknowledged;
and ``stop()`` returns within ``stop_timeout_s`` even if the store hangs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from station.db import (
    Database,
    DeviceState,
    Event,
    IntakeAlarm,
    Quarantined,
    StoreResult,
    is_connection_fault,
)
from station.intake import Rejected, parse_event, parse_state
from wire.events import schema_book
from wire.mqtt import BrokerSettings, Client, Message, ReasonCode, TlsSettings, async_client
from wire.mqtt_receive import BulkReceiver
from wire.topics import (
    PREFIX,
    TopicError,
    collector_claim_topic,
    collector_claims_filter,
    event_filter,
    parse_topic,
    state_filter,
)

log = logging.getLogger(__name__)

#: How often the writer logs sequence gaps (they are normal for a moment with
#: shared subscriptions, which do not keep order across collectors).
GAP_REPORT_S = 300.0


@dataclass(frozen=True)
class CollectorSettings:
    host: str = "localhost"
    port: int = 8883
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    username: str | None = None
    password: str | None = None
    topic_prefix: str = PREFIX
    #: Shared-subscription group: collectors in one group split the stream.
    group: str = "collectors"
    #: One county ("330100") or "+" for every county on this broker.
    county: str = "+"
    #: Must be stable per collector instance so its session (and unacked messages) survive.
    client_id: str = "collector-1"
    #: The broker keeps an offline collector's session (and its unacked messages) this long.
    session_expiry_s: int = 24 * 3600
    keepalive_s: int = 30
    #: Messages per commit: larger batches amortise the fsync.
    batch_max: int = 500
    #: How long the writer waits to fill a batch; bounds the ingest latency.
    batch_wait_s: float = 0.02
    #: Unacknowledged messages the broker may have outstanding to us (MQTT v5
    #: Receive Maximum); must cover a batch or batches never fill.
    receive_maximum: int = 1000
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    #: Per device, every message spends a token; the bucket holds ``rate_burst`` and
    #: refills at ``rate_per_s``. 50,000 covers a month's backlog of a busy kiosk
    #: (~600 events a day) after an outage; 5/s is ~700 busy days a day. Past it messages
    #: are acknowledged and counted (alarm ``intake_rate``), not stored.
    rate_per_s: float = 5.0
    rate_burst: int = 50_000
    #: Per device, at most this many quarantine rows per window; the rest are counted
    #: (alarm ``intake_flood``). Junk costs the store 100 rows an hour, not 244 MB.
    quarantine_cap: int = 100
    quarantine_window_s: float = 3600.0
    #: Devices whose budgets are kept in memory (the least recent are forgotten).
    budget_devices: int = 20_000
    #: QoS 0 messages (never limited by Receive Maximum) queued at most this many deep.
    qos0_queue_max: int = 5_000
    #: How long ``stop()`` waits for the writer; a writer stuck in the store is left
    #: behind (it is a daemon, and nothing it holds was acknowledged).
    stop_timeout_s: float = 10.0
    #: Backoff while the store is unreachable.
    store_retry_min_s: float = 0.5
    store_retry_max_s: float = 10.0

    @property
    def broker(self) -> BrokerSettings:
        return BrokerSettings(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            tls=TlsSettings.from_files(self.ca, self.cert, self.key),
            client_id=self.client_id,
            prefix=self.topic_prefix,
            keepalive_s=self.keepalive_s,
            session_expiry_s=self.session_expiry_s,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
            receive_maximum=self.receive_maximum,
        )


def store_identity(database_url: str | Path) -> str:
    """Which store a URL names, without credentials: two collectors of one group must
    name the same one (a SQLite file is a store of its machine)."""
    text = str(database_url)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        rest = rest.rsplit("@", 1)[-1].split("?", 1)[0]  # no user, password or options
        return f"{scheme}://{rest}"
    return f"sqlite://{socket.gethostname()}{Path(text).resolve()}"


#: Largest claim read; anything raised on paho's network thread would stop the intake.
CLAIM_MAX_BYTES = 4096

#: Quarantine reasons kept in ``CollectorStats.reasons`` (the latest; the table has all).
REASONS_KEPT = 50


@dataclass
class CollectorStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    states: int = 0
    batches: int = 0
    connected: bool = False
    #: Acknowledged but not stored: over a device's rate or quarantine cap, QoS 0 past
    #: the queue bound, or refused even as a quarantine row. Counted in intake_alarms.
    dropped: int = 0
    #: Known event ids that arrived with another body (quarantined and alarmed).
    conflicts: int = 0
    #: Store faults (connection lost, locked) that made the writer reconnect and retry.
    store_faults: int = 0
    #: The latest REASONS_KEPT quarantine reasons.
    reasons: list[str] = field(default_factory=list)


_STOP = object()
_Msg = tuple[str, bytes, int, int, int]  # topic, payload, mid, qos, connection generation


class _Budgets:
    """Per-device token buckets and quarantine caps, bounded in memory (writer thread only)."""

    def __init__(self, s: CollectorSettings) -> None:
        self.s = s
        # key -> [tokens, last refill, window start, quarantined in window]
        self._devices: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def _entry(self, key: tuple[str, str], now: float) -> list[float]:
        entry = self._devices.get(key)
        if entry is None:
            entry = [float(self.s.rate_burst), now, now, 0.0]
            self._devices[key] = entry
            while len(self._devices) > self.s.budget_devices:
                self._devices.popitem(last=False)
        else:
            self._devices.move_to_end(key)
        return entry

    def admit(self, key: tuple[str, str], now: float) -> bool:
        """Spend one token of ``key``'s bucket; False when it is empty."""
        e = self._entry(key, now)
        e[0] = min(float(self.s.rate_burst), e[0] + (now - e[1]) * self.s.rate_per_s)
        e[1] = now
        if e[0] < 1.0:
            return False
        e[0] -= 1.0
        return True

    def may_quarantine(self, key: tuple[str, str], now: float) -> bool:
        e = self._entry(key, now)
        if now - e[2] >= self.s.quarantine_window_s:
            e[2], e[3] = now, 0.0
        if e[3] >= self.s.quarantine_cap:
            return False
        e[3] += 1
        return True


@dataclass
class _Parsed:
    """One message's outcome before the commit."""

    msg: _Msg
    key: tuple[str, str]
    event: Event | None = None
    state: DeviceState | None = None
    bad: Quarantined | None = None


class Collector:
    """``start()`` / ``stop()`` / ``close()`` (idempotent); ``stats()`` is thread-safe."""

    def __init__(
        self,
        settings: CollectorSettings,
        database_url: str | Path,
        *,
        on_batch: Callable[[CollectorStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.schemas = schema_book()
        self.on_batch = on_batch
        # SimpleQueue: put and get in C, two per message on a flood's hot path.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._qos0_queued = 0
        self._lock = threading.RLock()
        # Set by stop(); each start() makes a new one and hands it to its writer with its
        # queue, so a writer stop() left stuck in the store leaves when it comes back.
        self._stopping = threading.Event()
        self._budgets = _Budgets(settings)
        self._reasons: deque[str] = deque(maxlen=REASONS_KEPT)
        self._alarm_logged: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        # What the current batch's split refused (writer thread only).
        self._refused: list[str] = []
        self._unstorable = 0
        self._stats = CollectorStats()
        self._stats_lock = threading.Lock()
        self._client: BulkReceiver | None = None
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._db_ready = threading.Event()
        self._closed = False
        # PUBACK mids are per connection: a mid received before a reconnect must never
        # be acknowledged on the new connection (it could name a different message).
        self._ack_lock = threading.Lock()
        self._generation = 0
        self.store = store_identity(database_url)
        #: Set when another collector of this group writes to another store: shared
        #: subscriptions would split the kiosks' events between the two stores.
        self.conflict: str | None = None

    # ---- public API -----------------------------------------------------------------

    @property
    def event_filter(self) -> str:
        s = self.settings
        return event_filter(s.topic_prefix, s.county, s.group)

    @property
    def state_filter(self) -> str:
        # The state upsert is idempotent, so every collector may store every state.
        return state_filter(self.settings.topic_prefix, self.settings.county)

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("collector is closed")
            if self._writer is not None:
                return
            self._stopping = stopping = threading.Event()
            # Daemon: a process exit mid-batch loses nothing (no PUBACK went out for it).
            self._writer = threading.Thread(
                target=self._run_writer,
                args=(self._queue, stopping),
                name="collector-writer",
                daemon=True,
            )
            self._writer.start()
            # Open the database before taking messages, so a bad URL fails here.
            while not self._db_ready.wait(0.05):
                if not self._writer.is_alive():
                    self._writer = None
                    raise RuntimeError(f"cannot open database: {self._writer_error}")
            self._client = self._make_client()
            self._client.loop_start()

    def stop(self) -> None:
        """Disconnect; messages received but not committed stay unacknowledged. Returns
        within ``stop_timeout_s`` even if the writer is stuck in the store."""
        with self._lock:
            if self._writer is None:
                return
            client, writer = self._client, self._writer
            self._stopping.set()
            if client is not None:
                with contextlib.suppress(Exception):  # a clean stop withdraws the claim
                    info = client.publish(self._claim_topic, b"", qos=1, retain=True)
                    info.wait_for_publish(1.0)
                client.disconnect()
                client.loop_stop()
            self._queue.put(_STOP)
            writer.join(self.settings.stop_timeout_s)
            if writer.is_alive():
                log.error("collector writer did not stop within %.0f s (stuck in the store); "
                          "leaving it: nothing it holds was acknowledged",
                          self.settings.stop_timeout_s)  # fmt: skip
            self._queue = queue.SimpleQueue()
            self._qos0_queued = 0
            self._client = None
            self._writer = None
            self._db_ready.clear()
            with self._stats_lock:
                self._stats.connected = False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self.stop()
                self._closed = True

    def stats(self) -> CollectorStats:
        with self._stats_lock:
            return CollectorStats(**{**vars(self._stats), "reasons": list(self._reasons)})

    @property
    def healthy(self) -> bool:
        """The writer and paho's network thread both alive (``station collect`` exits
        when not, and systemd starts it again)."""
        writer, client = self._writer, self._client
        # paho's loop_start() thread; paho sets it to None when the thread ends.
        network_alive = client is None or getattr(client, "_thread", None) is not None
        return writer is not None and writer.is_alive() and network_alive

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- MQTT (network thread) ---------------------------------------------------------

    def _make_client(self) -> BulkReceiver:
        return cast(
            BulkReceiver,
            async_client(
                self.settings.broker,
                manual_ack=True,
                bulk_receive=True,
                on_connect=self._on_connect,
                on_disconnect=self._on_disconnect,
                on_message=self._on_message,
            ),
        )

    def _on_connect(self, client: Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the collector: %s", rc)
            return
        log.info("collector %s connected (session present %s)", self.settings.client_id,
                 flags.session_present)  # fmt: skip
        with self._ack_lock:
            self._generation += 1
        s = self.settings
        claims = collector_claims_filter(s.topic_prefix, s.group)
        client.subscribe([(self.event_filter, 1), (self.state_filter, 1), (claims, 1)])
        claim = {"client_id": s.client_id, "store": self.store, "host": socket.gethostname()}
        client.publish(self._claim_topic, json.dumps(claim).encode(), qos=1, retain=True)
        with self._stats_lock:
            self._stats.connected = True

    def _on_disconnect(self, _c: Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._stats_lock:
            self._stats.connected = False
        log.warning("collector disconnected: %s", rc)

    @property
    def _claim_topic(self) -> str:
        s = self.settings
        return collector_claim_topic(s.topic_prefix, s.group, s.client_id)

    def _on_claim(self, client: Client, msg: Message) -> None:
        """Another collector's claim: which store it writes to (acknowledged at once)."""
        if msg.qos:
            client.ack(msg.mid, msg.qos)
        if len(msg.payload) > CLAIM_MAX_BYTES:  # a claim is ~150 bytes
            return
        try:
            claim = json.loads(msg.payload) if msg.payload else None
        except (ValueError, RecursionError):  # this runs on paho's network thread
            return
        if not isinstance(claim, dict) or claim.get("client_id") == self.settings.client_id:
            return
        if claim.get("store") != self.store:
            self.conflict = (
                f"collector {claim.get('client_id')!r} (on {claim.get('host')}) in group "
                f"{self.settings.group!r} writes to {claim.get('store')}, this one to "
                f"{self.store}: the kiosks' events would be split between the two stores; "
                "give each store its own --group (a claim left by a collector that no "
                f"longer runs: mosquitto_pub -r -n -t '{msg.topic}')"
            )
            log.error("%s", self.conflict)

    def _on_message(self, _c: Client, _u: Any, msg: Message) -> None:
        if msg.topic.startswith(f"{self.settings.topic_prefix}/_collectors/"):
            self._on_claim(_c, msg)
            return
        # QoS 1 is bounded by our Receive Maximum; QoS 0 is not, so a QoS 0 flood is cut
        # at the queue (never blocking the network thread).
        if msg.qos == 0:
            if self._qos0_queued >= self.settings.qos0_queue_max:
                with self._stats_lock:
                    self._stats.received += 1
                    self._stats.dropped += 1
                return
            self._qos0_queued += 1
        self._queue.put((msg.topic, msg.payload, msg.mid, msg.qos, self._generation))

    # ---- writer thread -------------------------------------------------------------------

    def _run_writer(self, inbox: queue.SimpleQueue[Any], stopping: threading.Event) -> None:
        """Check, commit and acknowledge batches from ``inbox`` until ``stopping``: this
        run's, whatever a later start() makes (a writer left in the store then leaves)."""
        try:
            db = Database(self.database_url)
        except BaseException as exc:
            self._writer_error = exc
            log.exception("cannot open the county database")
            return
        self._db_ready.set()
        next_gap_report = time.monotonic() + GAP_REPORT_S
        try:
            while True:
                batch, stop = self._next_batch(inbox)
                if batch:
                    self._store(db, batch, stopping)
                if stop or stopping.is_set():
                    return
                if time.monotonic() >= next_gap_report:
                    next_gap_report = time.monotonic() + GAP_REPORT_S
                    try:
                        gaps = db.gaps()
                    except Exception as error:  # a report, never fatal
                        log.warning("gap report failed: %s", error)
                        gaps = []
                    for gap in gaps:
                        log.warning("sequence gap %s/%s seq %d..%d", gap.county, gap.device,
                                    gap.first, gap.last)  # fmt: skip
        finally:
            with contextlib.suppress(Exception):  # closing a broken connection
                db.close()

    def _next_batch(self, inbox: queue.SimpleQueue[Any]) -> tuple[list[_Msg], bool]:
        first = inbox.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_max:
            try:
                item = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                inbox.put(_STOP)
                break
            batch.append(item)
        qos0 = sum(1 for m in batch if m[3] == 0)
        if qos0:
            self._qos0_queued -= qos0
        return batch, False

    def _parse(self, msg: _Msg) -> _Parsed:
        """The message's outcome; never raises (a bug in a check quarantines the message)."""
        topic_name, payload = msg[0], msg[1]
        key = ("?", "?")
        try:
            topic = parse_topic(topic_name, self.settings.topic_prefix)
            key = (topic.county, topic.device)
            if topic.kind is None:
                return _Parsed(msg, key, state=parse_state(self.schemas, topic, payload))
            return _Parsed(msg, key, event=parse_event(self.schemas, topic, payload))
        except (Rejected, TopicError) as exc:
            reason = str(exc)
        except Exception as exc:  # whatever a message does, the writer lives
            log.exception("checking a message on %r failed", topic_name[:200])
            reason = f"unreadable: {type(exc).__name__}"
        return _Parsed(msg, key, bad=Quarantined(topic_name, reason, payload))

    def _store(self, db: Database, batch: list[_Msg], stopping: threading.Event) -> None:
        now = time.monotonic()
        items: list[_Parsed] = []
        dropped: dict[tuple[str, str, str], int] = {}
        for msg in batch:
            key = _device_key(msg[0], self.settings.topic_prefix)
            if not self._budgets.admit(key, now):
                dropped[(*key, "intake_rate")] = dropped.get((*key, "intake_rate"), 0) + 1
                continue
            parsed = self._parse(msg)
            if parsed.bad is not None and not self._budgets.may_quarantine(parsed.key, now):
                k = (*parsed.key, "intake_flood")
                dropped[k] = dropped.get(k, 0) + 1
                continue
            if parsed.bad is not None:
                log.warning("quarantined message on %r: %s", msg[0][:200], parsed.bad.reason)
            items.append(parsed)
        alarms = [
            IntakeAlarm(county, device, code, _ALARM_TEXT[code], count)
            for (county, device, code), count in dropped.items()
        ]
        for a in alarms:
            # Once per device and condition per window, not once per batch of a flood.
            said = self._alarm_logged.get((a.county, a.device, a.code))
            if said is None or now - said >= self.settings.quarantine_window_s:
                self._alarm_logged[(a.county, a.device, a.code)] = now
                while len(self._alarm_logged) > self.settings.budget_devices:
                    self._alarm_logged.popitem(last=False)
                log.warning("%s/%s: %s (counted in intake_alarms)", a.county, a.device, a.message)
        result = self._commit_with_retry(db, items, alarms, stopping)
        if result is None:
            return  # stopping with the store down: nothing acknowledged, all redelivered
        # Only on this run's connection: a writer stop() left behind acks nothing on the next.
        client = self._client if self._stopping is stopping else None
        if client is not None:
            with self._ack_lock:
                # Subscribed at QoS 1: the broker sends nothing above it.
                client.ack_many(
                    mid
                    for _topic, _payload, mid, qos, generation in batch
                    if qos == 1 and generation == self._generation
                )
        bad = [p.bad.reason for p in items if p.bad is not None]
        with self._stats_lock:
            st = self._stats
            st.received += len(batch)
            st.stored += result.new
            st.duplicates += result.duplicates
            st.conflicts += len(result.conflicts)
            # A message whose quarantine row was refused too is counted dropped, not here.
            quarantined = len(bad) + len(result.conflicts) + len(self._refused)
            st.quarantined += quarantined - self._unstorable
            st.dropped += sum(dropped.values()) + self._unstorable
            st.states += sum(1 for p in items if p.state is not None)
            st.batches += 1
            self._reasons.extend(bad + self._refused)
            snapshot = CollectorStats(**{**vars(st), "reasons": list(self._reasons)})
        if self.on_batch is not None:
            self.on_batch(snapshot)

    def _commit_with_retry(
        self,
        db: Database,
        items: list[_Parsed],
        alarms: list[IntakeAlarm],
        stopping: threading.Event,
    ) -> StoreResult | None:
        """Commit, reconnecting while the store is unreachable; None if asked to stop first."""
        delay = self.settings.store_retry_min_s
        while True:
            # What the split below refused, for the stats (writer thread only).
            self._refused = []
            self._unstorable = 0
            try:
                return self._commit_split(db, items, alarms)
            except Exception as error:  # every store fault is retried
                with self._stats_lock:
                    self._stats.store_faults += 1
                if is_connection_fault(error):
                    log.warning("county store unavailable (%s: %s); retrying in %.1f s",
                                type(error).__name__, str(error).strip()[:200], delay)  # fmt: skip
                else:
                    log.exception("storing a batch of %d failed; retrying", len(items))
            if stopping.wait(delay):
                return None
            delay = min(delay * 2, self.settings.store_retry_max_s)
            try:
                db.reconnect()
            except Exception as error:  # still down: wait and try again
                log.warning("county store still unavailable: %s", str(error).strip()[:200])

    def _commit_split(
        self, db: Database, items: list[_Parsed], alarms: list[IntakeAlarm]
    ) -> StoreResult:
        """Store ``items``; if the store refuses them for their data, halve until the one
        it refuses is alone, and quarantine that one with the store's reason. Connection
        faults are raised to the caller (retry the whole batch on a new connection)."""
        try:
            return db.store(
                [p.event for p in items if p.event is not None],
                [p.bad for p in items if p.bad is not None],
                [p.state for p in items if p.state is not None],
                alarms,
            )
        except Exception as error:
            if is_connection_fault(error):
                raise
            refusal = error
        if len(items) > 1:
            half = len(items) // 2
            first = self._commit_split(db, items[:half], alarms)
            second = self._commit_split(db, items[half:], [])
            first.new += second.new
            first.duplicates += second.duplicates
            first.conflicts += second.conflicts
            return first
        reason = f"store refused: {type(refusal).__name__}: {str(refusal).strip()[:200]}"
        if items and items[0].bad is None:
            msg = items[0].msg
            log.warning("the store refused a message on %r: %s", msg[0][:200], reason)
            self._refused.append(reason)
            retry = _Parsed(msg, items[0].key, bad=Quarantined(msg[0], reason, msg[1]))
            return self._commit_split(db, [retry], alarms)
        # Even the quarantine row (or the alarms alone) was refused: count it and go on.
        log.error("the store refused a quarantine row: %s", reason)
        self._unstorable += len(items)
        if items and alarms:
            return self._commit_split(db, [], alarms)
        return StoreResult()


_ALARM_TEXT = {
    "intake_rate": "over its message rate: messages counted, not stored",
    "intake_flood": "over its quarantine cap: bad messages counted, not stored",
}


def _device_key(topic: str, prefix: str) -> tuple[str, str]:
    """(county, device) named by the topic, cheaply; a topic outside the tree is one key."""
    head = prefix + "/"
    if not topic.startswith(head):
        return ("?", "?")
    parts = topic[len(head) :].split("/", 2)
    return (parts[0][:16], parts[1][:32]) if len(parts) >= 2 else ("?", "?")
