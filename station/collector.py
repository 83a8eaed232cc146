"""The county collector: shared-subscription consumer that stores each event exactly once.

paho runs with ``manual_ack=True``: the network thread only queues messages; a
writer thread validates a batch, commits it, and only then sends the PUBACKs.
A collector killed before its commit never acknowledged those messages, so the
broker redelivers them (to this client id when it returns with its persistent
session, or to another member of the group). Redeliveries are absorbed by the
unique constraints, so the database holds each event once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.db import Database, DeviceState, Event, Quarantined
from station.intake import Rejected, parse_event, parse_state
from wire.events import schema_book
from wire.mqtt import BrokerSettings, Client, Message, ReasonCode, TlsSettings, async_client
from wire.topics import PREFIX, TopicError, event_filter, parse_topic, state_filter

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


@dataclass
class CollectorStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    states: int = 0
    batches: int = 0
    connected: bool = False
    reasons: list[str] = field(default_factory=list)


_STOP = object()


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
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.RLock()
        self._stats = CollectorStats()
        self._stats_lock = threading.Lock()
        self._client: Client | None = None
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._db_ready = threading.Event()
        self._closed = False
        # PUBACK mids are per connection: a mid received before a reconnect must never
        # be acknowledged on the new connection (it could name a different message).
        self._ack_lock = threading.Lock()
        self._generation = 0

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
            # Daemon: a process exit mid-batch loses nothing (no PUBACK went out for it).
            self._writer = threading.Thread(
                target=self._run_writer, name="collector-writer", daemon=True
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
        """Disconnect; messages received but not committed stay unacknowledged."""
        with self._lock:
            if self._writer is None:
                return
            client, writer = self._client, self._writer
            if client is not None:
                client.disconnect()
                client.loop_stop()
            self._queue.put(_STOP)
            writer.join()
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
            return CollectorStats(**{**vars(self._stats), "reasons": list(self._stats.reasons)})

    @property
    def healthy(self) -> bool:
        writer = self._writer
        return writer is not None and writer.is_alive()

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- MQTT (network thread) ---------------------------------------------------------

    def _make_client(self) -> Client:
        return async_client(
            self.settings.broker,
            manual_ack=True,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_message=self._on_message,
        )

    def _on_connect(self, client: Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the collector: %s", rc)
            return
        log.info("collector %s connected (session present %s)", self.settings.client_id,
                 flags.session_present)  # fmt: skip
        with self._ack_lock:
            self._generation += 1
        client.subscribe([(self.event_filter, 1), (self.state_filter, 1)])
        with self._stats_lock:
            self._stats.connected = True

    def _on_disconnect(self, _c: Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._stats_lock:
            self._stats.connected = False
        log.warning("collector disconnected: %s", rc)

    def _on_message(self, _c: Client, _u: Any, msg: Message) -> None:
        self._queue.put((msg.topic, msg.payload, msg.mid, msg.qos, self._generation))

    # ---- writer thread -------------------------------------------------------------------

    def _run_writer(self) -> None:
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
                batch, stop = self._next_batch()
                if batch:
                    self._store(db, batch)
                if stop:
                    return
                if time.monotonic() >= next_gap_report:
                    next_gap_report = time.monotonic() + GAP_REPORT_S
                    for gap in db.gaps():
                        log.warning("sequence gap %s/%s seq %d..%d", gap.county, gap.device,
                                    gap.first, gap.last)  # fmt: skip
        finally:
            db.close()

    def _next_batch(self) -> tuple[list[tuple[str, bytes, int, int, int]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_max:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _store(self, db: Database, batch: list[tuple[str, bytes, int, int, int]]) -> None:
        events: list[Event] = []
        bad: list[Quarantined] = []
        states: list[DeviceState] = []
        for topic_name, payload, _mid, _qos, _gen in batch:
            try:
                topic = parse_topic(topic_name, self.settings.topic_prefix)
                if topic.kind is None:
                    states.append(parse_state(self.schemas, topic, payload))
                else:
                    events.append(parse_event(self.schemas, topic, payload))
            except (Rejected, TopicError) as exc:
                log.warning("quarantined message on %s: %s", topic_name, exc)
                bad.append(Quarantined(topic_name, str(exc), payload))
        while True:
            try:
                new = db.store_batch(events, bad, states)
                break
            except Exception:
                # A locked or unreachable database: nothing was acknowledged, so nothing
                # is lost; retry rather than drop the batch.
                log.exception("storing a batch of %d failed; retrying", len(batch))
                time.sleep(1.0)
        client = self._client
        if client is not None:
            with self._ack_lock:
                for _topic, _payload, mid, qos, generation in batch:
                    if qos > 0 and generation == self._generation:
                        client.ack(mid, qos)
        with self._stats_lock:
            st = self._stats
            st.received += len(batch)
            st.stored += new
            st.duplicates += len(events) - new
            st.quarantined += len(bad)
            st.states += len(states)
            st.batches += 1
            st.reasons.extend(q.reason for q in bad)
            snapshot = CollectorStats(**{**vars(st), "reasons": list(st.reasons)})
        if self.on_batch is not None:
            self.on_batch(snapshot)
