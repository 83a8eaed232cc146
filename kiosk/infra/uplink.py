"""Store-and-forward uplink: drains the SQLite outbox to the county broker over MQTT v5.

The outbox is the source of truth (paho keeps its session in memory only). Rows
go out in seq order at QoS 1 with a bounded in-flight window; a row becomes
``acked`` only after the broker answered PUBACK with a reason code below 0x80.
Those marks are written in batches (one UPDATE per ``ack_batch`` answers or
``ack_flush_s``, and whenever nothing is in flight): a crash before the write
resends those events, and the county stores each event id once. A row answered
but not taken (0x10, a refusal) is marked ``sent``. Messages in flight over a
dropped connection are resent by paho on reconnect, and by this service after a
restart (it re-reads every unacknowledged row).

Threads: paho's one network thread (``loop_start``) and one pump thread that
owns the SQLite connection. Callbacks never touch the database; they queue
completions and wake the pump. The pump sleeps on a condition: an in-process
``Outbox`` listener wakes it at once, and a slow ``PRAGMA data_version`` poll
notices rows committed by other processes, so an idle kiosk costs nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.infra.alarms import Alarms
from kiosk.infra.outbox import PAGE_SIZE, Outbox
from kiosk.infra.store import Store
from wire.mqtt import (
    PUBACK_FAILURE_MIN,
    BrokerSettings,
    Client,
    ReasonCode,
    TlsSettings,
    Will,
    async_client,
    jittered_backoff,
)
from wire.mqtt_bulk import PUBACK_SUCCESS, BulkPublisher
from wire.topics import PREFIX, event_topic, state_topic

log = logging.getLogger(__name__)

#: PUBACK 0x10 "No matching subscribers" is a success in MQTT v5, but for an event it
#: means no collector has it: the broker dropped it. Mosquitto 2.0 does not restore
#: shared subscriptions from persistence, so this is what a kiosk sees for the moments
#: after a broker restart before the collectors resubscribe. Such rows stay unacked.
PUBACK_NO_SUBSCRIBERS = 0x10
#: After a refusal (ACL, quota) the drain pauses this long, doubling up to the max:
#: retrying a misconfigured ACL at full speed would only burn the kiosk's link.
REFUSAL_RETRY_MIN_S = 30.0
REFUSAL_RETRY_MAX_S = 600.0
#: After a wake-up from an in-process enqueue the row may not be committed yet;
#: the pump re-checks at this interval for this long before going back to sleep.
HOT_POLL_S = 0.01
HOT_WINDOW_S = 0.5
#: How long the pump waits for a quarter window of PUBACKs before feeding again:
#: one wake-up then publishes many rows instead of one per PUBACK.
ACK_COALESCE_S = 0.003
#: The pump's own connection commits sent/acked marks without an fsync (WAL keeps
#: the file consistent). A power cut can roll back the last marks; those events are
#: then resent and the county drops the duplicates, so nothing is lost, and the drain
#: no longer waits on the disk every cycle. Certificate writers keep synchronous=FULL.
BOOKKEEPING_SYNC = "NORMAL"
#: The backlog alarm is cleared once the backlog falls to this fraction of the threshold.
BACKLOG_CLEAR_RATIO = 0.5
#: How often the backlog alarm and the purge of acknowledged rows run.
BACKLOG_CHECK_S = 10.0
PURGE_INTERVAL_S = 3600.0
#: Grace for the final "offline" state message on a clean stop.
STOP_PUBLISH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class UplinkSettings:
    """Filled by the composition root from the ``[uplink]`` config section."""

    host: str = "localhost"
    port: int = 8883
    #: None means plain TCP (lab and tests only); production sets a CA at least.
    tls: TlsSettings | None = None
    username: str | None = None
    password: str | None = None
    topic_prefix: str = PREFIX
    keepalive_s: int = 60
    #: The broker keeps this kiosk's session (and queued commands) this long offline.
    session_expiry_s: int = 7 * 24 * 3600
    #: QoS 1 messages awaiting PUBACK; bounds memory and the resend burst.
    inflight_window: int = 100
    #: Unacknowledged events above which an ``alarm.raised`` (backlog) is emitted.
    backlog_alarm_threshold: int = 5000
    #: Acknowledged rows are deleted after this many days (the county has them).
    retention_days: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    #: Slow poll for rows written by other processes (the in-process path is instant).
    poll_interval_s: float = 5.0
    #: First retry after a PUBACK 0x10 (no collector subscribed), doubling to 8x.
    no_subscriber_retry_s: float = 5.0
    #: Stable client id so the broker session survives restarts; default county-device.
    client_id: str | None = None
    #: PUBACKs are written to the outbox in one UPDATE once this many are in hand, or
    #: once the oldest is ``ack_flush_s`` old, or when nothing is in flight. A crash
    #: before the write resends those events; the county stores each event id once.
    ack_batch: int = 1000
    ack_flush_s: float = 0.1

    def broker(self, client_id: str) -> BrokerSettings:
        """This kiosk's login; the uplink and the provisioning listener differ in client id."""
        return BrokerSettings(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            tls=self.tls,
            client_id=client_id,
            prefix=self.topic_prefix,
            keepalive_s=self.keepalive_s,
            session_expiry_s=self.session_expiry_s,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )


@dataclass(frozen=True)
class Versions:
    """What the retained birth message reports."""

    software_version: str = "0"
    config_version: str = "0"


@dataclass
class UplinkStats:
    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    undelivered: int = 0
    #: Times the drain held off after 0x10s or refusals (one per burst of answers).
    pauses: int = 0
    inflight: int = 0
    backlog: int = -1


#: ``inflight.pop`` default: a PUBACK for a mid not registered yet.
_UNKNOWN: Any = object()


@dataclass
class _Shared:
    """What paho's network thread (callbacks), the pump thread and the public API share.
    Every field is read and written with ``cond`` held; nothing else crosses threads."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    woken: bool = False
    stopping: bool = False
    connected: bool = False
    birth_due: bool = False
    #: PUBACKs as paho delivered them: (mid, reason code).
    completions: deque[tuple[int, ReasonCode]] = field(default_factory=deque)
    #: mid -> outbox seq awaiting PUBACK (None: the birth/offline state message).
    inflight: dict[int, int | None] = field(default_factory=dict)
    #: PUBACKs that beat publish() returning their mid.
    early: dict[int, ReasonCode] = field(default_factory=dict)
    stats: UplinkStats = field(default_factory=UplinkStats)
    idle: bool = False
    #: Completions that wake the pump (raised while it coalesces acknowledgements).
    notify_at: int = 1


class Uplink:
    """The uplink service: ``start()``, ``stop()``, ``close()``; all idempotent."""

    def __init__(
        self,
        settings: UplinkSettings,
        database: Path,
        county: str,
        device_id: str,
        *,
        versions: Versions | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if settings.inflight_window < 1:
            raise ValueError("inflight_window must be at least 1")
        # Building it checks the session expiry.
        self._broker = settings.broker(settings.client_id or f"{county}-{device_id}")
        self.settings = settings
        self.database = Path(database)
        self.county = county
        self.device_id = device_id
        self.versions = versions or Versions()
        self.clock = clock or (lambda: datetime.now().astimezone())
        self._state_topic = state_topic(settings.topic_prefix, county, device_id)

        self._lock = threading.RLock()  # guards start/stop/close
        self._shared = _Shared()

        self._client: BulkPublisher | None = None
        self._pump: threading.Thread | None = None
        self._closed = False

    # ---- public API -------------------------------------------------------------

    def start(self) -> None:
        """Connect (in the background) and start draining; returns at once."""
        with self._lock:
            if self._closed:
                raise RuntimeError("uplink is closed")
            if self._pump is not None:
                return
            with self._shared.cond:
                self._shared.stopping = False
            self._client = self._make_client()
            self._pump = threading.Thread(target=self._run_pump, name="uplink-pump", daemon=True)
            self._pump.start()
            self._client.loop_start()

    def stop(self) -> None:
        """Say "offline", disconnect, stop both threads. Unacked rows stay for next time."""
        with self._lock:
            if self._pump is None:
                return
            client, pump = self._client, self._pump
            assert client is not None
            if self._shared.connected:
                try:
                    info = client.publish(
                        self._state_topic, self._state_payload("offline"), qos=1, retain=True
                    )
                    info.wait_for_publish(STOP_PUBLISH_TIMEOUT_S)
                except (RuntimeError, ValueError):
                    log.warning("could not publish the offline state", exc_info=True)
            with self._shared.cond:
                self._shared.stopping = True
                self._shared.cond.notify_all()
            pump.join()
            client.disconnect()
            client.loop_stop()
            self._client = None
            self._pump = None
            with self._shared.cond:
                self._shared.connected = False
                self._shared.stats.connected = False
                self._shared.inflight.clear()
                self._shared.early.clear()
                self._shared.completions.clear()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.stop()
            self._closed = True

    def wake(self) -> None:
        """New rows may be waiting (register with ``Outbox.add_listener``)."""
        with self._shared.cond:
            self._shared.woken = True
            self._shared.idle = False
            self._shared.cond.notify_all()

    def stats(self) -> UplinkStats:
        with self._shared.cond:
            snapshot = UplinkStats(**vars(self._shared.stats))
            snapshot.inflight = len(self._shared.inflight)
            return snapshot

    def wait_drained(self, timeout: float) -> bool:
        """Block until nothing is left to send or in flight (tests, benchmarks, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._shared.cond:
            while not (
                self._shared.idle and not self._shared.inflight and self._shared.stats.backlog == 0
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._shared.cond.wait(remaining)
            return True

    def __enter__(self) -> Uplink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- MQTT client and callbacks (network thread) ------------------------------

    def _make_client(self) -> BulkPublisher:
        client = async_client(
            self._broker,
            will=Will(self._state_topic, self._state_payload("offline")),
            bulk=True,  # the pump keeps the window; paho's own bound is off
            on_acks=self._on_acks,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_publish=self._on_publish,
        )
        assert isinstance(client, BulkPublisher)
        return client

    def _on_connect(self, _c: Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            return
        log.info(
            "connected to %s:%s (session present: %s)",
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )
        with self._shared.cond:
            self._shared.connected = True
            self._shared.birth_due = True
            self._shared.stats.connected = True
            self._shared.stats.connects += 1
            self._shared.cond.notify_all()

    def _on_disconnect(self, _c: Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._shared.cond:
            was = self._shared.connected
            self._shared.connected = False
            self._shared.stats.connected = False
            self._shared.cond.notify_all()
        if was:
            log.warning("disconnected from the broker: %s", rc)

    def _on_publish(self, _c: Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        up = self._shared
        with up.cond:
            up.completions.append((mid, rc))
            # Waking the pump per PUBACK costs a context switch each; it asks for a batch.
            if len(up.completions) >= up.notify_at:
                up.cond.notify_all()

    def _on_acks(self, mids: list[int]) -> None:
        """Plain success PUBACKs, a read's worth at a time (wire/mqtt_bulk.py)."""
        up = self._shared
        with up.cond:
            up.completions.extend((mid, PUBACK_SUCCESS) for mid in mids)
            if len(up.completions) >= up.notify_at:
                up.cond.notify_all()

    # ---- pump thread -------------------------------------------------------------

    def _run_pump(self) -> None:
        try:
            with Store(self.database) as store:
                store.conn.execute(f"PRAGMA synchronous={BOOKKEEPING_SYNC}")
                outbox = Outbox(store, self.county, self.device_id, self.clock)
                assert self._client is not None
                link = _Link(
                    self._client,
                    self.county,
                    self.device_id,
                    self._state_topic,
                    self._state_payload,
                )
                alarms = Alarms(store, outbox, self.clock)
                _Pump(self._shared, link, self.settings, outbox, alarms).run()
        except Exception:
            log.exception("uplink pump crashed")
            raise

    def _state_payload(self, status: str, backlog: int | None = None) -> bytes:
        return json.dumps(
            {
                "status": status,
                "software_version": self.versions.software_version,
                "config_version": self.versions.config_version,
                "backlog": max(backlog if backlog is not None else self._shared.stats.backlog, 0),
                "time": self.clock().isoformat(),
            }
        ).encode()


@dataclass(frozen=True)
class _Link:
    """What the pump publishes through: this start()'s client and the kiosk's identity."""

    client: BulkPublisher
    county: str
    device_id: str
    state_topic: str
    state_payload: Callable[..., bytes]


class _Pump:
    """The pump thread's state; only this thread touches the outbox."""

    def __init__(
        self,
        shared: _Shared,
        link: _Link,
        settings: UplinkSettings,
        outbox: Outbox,
        alarms: Alarms,
    ) -> None:
        self.shared = shared
        self.link = link
        self.settings = settings
        self.outbox = outbox
        self.alarms = alarms
        #: ``(seq, kind, body)`` read ahead of the window (Outbox.outgoing).
        self.buffer: deque[tuple[int, str, bytes]] = deque()
        self.topics: dict[str, str] = {}
        self.last_read = 0  # highest seq read into the buffer
        self.maybe_more = True
        self.data_version = self._data_version()
        self.hot_until = 0.0
        self.refused_until = 0.0
        self.refusal_attempt = 0
        self.rewind = False
        self.next_backlog_check = 0.0
        self.next_purge = 0.0
        #: Seqs the broker took (PUBACK < 0x80) and answered-but-not-taken, not yet
        #: written; ``unrecorded_since`` is when the oldest arrived.
        self.acked: list[int] = []
        self.answered: list[int] = []
        self.unrecorded_since = 0.0

    def _data_version(self) -> int:
        return self.outbox.store.conn.execute("PRAGMA data_version").fetchone()[0]

    def run(self) -> None:
        up = self.shared
        while True:
            with up.cond:
                if up.stopping:
                    break
                if up.woken:
                    up.woken = False
                    self.maybe_more = True
                    self.hot_until = time.monotonic() + HOT_WINDOW_S
                completions, up.completions = up.completions, deque()
                connected = up.connected
                birth_due = up.birth_due and connected
                up.birth_due = False
            self._complete(completions)
            if birth_due:
                self._publish_state()
            fed = 0
            if connected:
                if self.rewind:
                    self._record(force=True)  # before the rewind re-reads unacked rows
                fed = self._feed()
            with up.cond:
                quiet = not up.inflight and not up.completions and fed == 0
            self._record(force=quiet)  # quiet: nothing more will be answered soon
            self._housekeeping()
            self._sleep(fed)
        # Answers in hand are kept on a clean stop; after a crash they are lost and
        # those events resent (the county stores each event id once).
        self._record(force=True)

    def _record(self, *, force: bool) -> None:
        """Write the answers in hand, in one transaction, once there are enough of them
        (``ack_batch``), the oldest is ``ack_flush_s`` old, or ``force``.

        An event is marked acked only after its PUBACK; the delay only widens what a
        crash makes the kiosk resend, and the county stores each event id once.
        """
        if not self.acked and not self.answered:
            return
        if not (
            force
            or len(self.acked) >= self.settings.ack_batch
            or time.monotonic() - self.unrecorded_since >= self.settings.ack_flush_s
        ):
            return
        acked, self.acked = self.acked, []
        answered, self.answered = self.answered, []
        self.outbox.record(sent=answered, acked=acked)
        with self.shared.cond:
            self.shared.stats.acked += len(acked)

    def _flush_due_in(self) -> float | None:
        """Seconds until the answers in hand must be written; None when there are none."""
        if not self.acked and not self.answered:
            return None
        return max(0.0, self.unrecorded_since + self.settings.ack_flush_s - time.monotonic())

    def _sleep(self, fed: int) -> None:
        up = self.shared
        now = time.monotonic()
        timeout = HOT_POLL_S if now < self.hot_until else self.settings.poll_interval_s
        if self.refused_until > now:
            timeout = min(timeout, self.refused_until - now + 0.001)
        with up.cond:
            flush_in = self._flush_due_in()
            if flush_in is not None:
                timeout = min(timeout, flush_in)
            idle = (
                not up.woken  # a wake() during this cycle means rows this cycle missed
                and fed == 0
                and not self.buffer
                and not self.maybe_more
                and not self.rewind
                and flush_in is None
                and self.refused_until <= now
            )
            up.idle = idle
            if idle:
                up.cond.notify_all()
            if up.stopping or up.woken or (up.birth_due and up.connected):
                return
            if fed and len(up.inflight) < self.settings.inflight_window:
                return  # window still open: keep feeding
            if up.completions or up.inflight:
                self._coalesce_acks(flush_in)
                return
            up.cond.wait(timeout)
        version = self._data_version()
        if version != self.data_version:
            self.data_version = version
            self.maybe_more = True

    def _coalesce_acks(self, flush_in: float | None) -> None:
        """Wait briefly for a quarter window of PUBACKs, so one wake-up feeds many rows.

        Called with ``up.cond`` held.
        """
        up = self.shared
        want = min(max(1, self.settings.inflight_window // 4), len(up.inflight) + len(up.early))
        deadline = time.monotonic() + ACK_COALESCE_S
        up.notify_at = want
        try:
            while len(up.completions) < want and not up.stopping and up.connected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if up.completions:
                        return
                    up.notify_at = 1
                    wait = self.settings.poll_interval_s if flush_in is None else flush_in
                    deadline = time.monotonic() + wait
                    remaining = wait
                    if remaining <= 0:
                        return
                up.cond.wait(remaining)
        finally:
            up.notify_at = 1

    def _complete(self, completions: deque[tuple[int, ReasonCode]]) -> None:
        """Sort the broker's answers; a PUBACK may arrive before its mid is registered."""
        if not completions:
            return
        up = self.shared
        answers: list[tuple[int, ReasonCode]] = []
        with up.cond:
            inflight, early = up.inflight, up.early
            for mid, rc in completions:
                seq = inflight.pop(mid, _UNKNOWN)
                if seq is _UNKNOWN:
                    early[mid] = rc
                elif seq is not None:
                    answers.append((seq, rc))
        self._account(answers)

    def _account(self, answers: list[tuple[int, ReasonCode]]) -> None:
        if not answers:
            return
        if not self.acked and not self.answered:
            self.unrecorded_since = time.monotonic()
        acked = self.acked
        for seq, rc in answers:
            code = rc.value
            if code < PUBACK_FAILURE_MIN and code != PUBACK_NO_SUBSCRIBERS:
                acked.append(seq)
                self.refusal_attempt = 0
                continue
            self.answered.append(seq)
            if code == PUBACK_NO_SUBSCRIBERS:
                with self.shared.cond:
                    self.shared.stats.undelivered += 1
                began = self._pause(self._no_subscriber_delay)
                if began and self.refusal_attempt == 1:
                    log.warning("no collector subscribed (PUBACK 0x10); holding events")
            else:
                with self.shared.cond:
                    self.shared.stats.refused += 1
                log.error("broker refused event seq %s: %s (0x%02x)", seq, rc, code)
                self.outbox.mark_refused(seq, f"PUBACK 0x{code:02x} {rc}")
                self._pause(
                    lambda attempt: jittered_backoff(
                        attempt, REFUSAL_RETRY_MIN_S, REFUSAL_RETRY_MAX_S
                    )
                )

    def _no_subscriber_delay(self, attempt: int) -> float:
        low = self.settings.no_subscriber_retry_s
        return jittered_backoff(attempt, low, 8 * low)

    def _pause(self, delay_for: Callable[[int], float]) -> bool:
        """Stop feeding for ``delay_for(attempt)``, then resend from the lowest
        unacknowledged row. A window answered 0x10 (a broker restarted before the
        collectors resubscribed) is one burst: only its first answer pauses, so the
        backoff doubles per failed retry, not per event in flight."""
        now = time.monotonic()
        if now < self.refused_until:
            return False
        self.refused_until = now + delay_for(self.refusal_attempt)
        self.refusal_attempt += 1
        self.rewind = True
        with self.shared.cond:
            self.shared.stats.pauses += 1
        return True

    def _feed(self) -> int:
        """Publish rows until the window is full; returns how many."""
        up = self.shared
        with up.cond:
            if self.rewind and not up.inflight:
                # Restart from the lowest unacknowledged row once the pause is over.
                self.rewind = False
                self.buffer.clear()
                self.last_read = 0
                self.maybe_more = True
            room = self.settings.inflight_window - len(up.inflight)
        if time.monotonic() < self.refused_until or self.rewind:
            return 0
        buffer, topics = self.buffer, self.topics
        batch: list[tuple[str, bytes]] = []
        seqs: list[int | None] = []
        while room > 0 and not up.stopping and up.connected:
            if not buffer:
                if not self.maybe_more:
                    break
                page = self.outbox.outgoing(self.last_read, PAGE_SIZE)
                self.maybe_more = len(page) == PAGE_SIZE
                if not page:
                    break
                buffer.extend(page)
                self.last_read = page[-1][0]
            seq, kind, body = buffer.popleft()
            topic = topics.get(kind)
            if topic is None:
                topic = topics[kind] = event_topic(
                    self.settings.topic_prefix, self.link.county, self.link.device_id, kind
                )
            batch.append((topic, body))
            seqs.append(seq)
            room -= 1
        # One call for the batch: paho registers the messages under one lock and
        # writes them in one send (wire/mqtt_bulk.py).
        self._register(list(zip(self.link.client.publish_many(batch), seqs, strict=True)))
        return len(seqs)

    def _register(self, sent: list[tuple[int, int | None]]) -> None:
        """Enter published mids in the window, under one lock for the whole batch."""
        if not sent:
            return
        up = self.shared
        early: list[tuple[int, ReasonCode]] = []
        with up.cond:
            up.stats.published += sum(1 for _, seq in sent if seq is not None)
            if up.early:
                for mid, seq in sent:
                    rc = up.early.pop(mid, None)
                    if rc is None:
                        up.inflight[mid] = seq
                    elif seq is not None:
                        early.append((seq, rc))
            else:
                up.inflight.update(sent)
        self._account(early)

    def _publish_state(self) -> None:
        up = self.shared
        backlog = self.outbox.backlog()
        with up.cond:
            up.stats.backlog = backlog
        info = self.link.client.publish(
            self.link.state_topic, self.link.state_payload("online", backlog), qos=1, retain=True
        )
        self._register([(info.mid, None)])

    def _housekeeping(self) -> None:
        now = time.monotonic()
        up = self.shared
        if now >= self.next_purge:
            self.next_purge = now + PURGE_INTERVAL_S
            cutoff = datetime.now(UTC) - timedelta(days=self.settings.retention_days)
            purged = self.outbox.purge_acked(cutoff)
            if purged:
                log.info("purged %d acknowledged outbox rows", purged)
        with up.cond:
            drained = not self.buffer and not self.maybe_more and not up.inflight
        drained = drained and not self.acked and not self.answered
        if now >= self.next_backlog_check or drained:
            self.next_backlog_check = now + BACKLOG_CHECK_S
            backlog = self.outbox.backlog()
            if check_backlog(self.alarms, backlog, self.settings.backlog_alarm_threshold):
                self.maybe_more = True  # the alarm event itself waits to be sent
                backlog = self.outbox.backlog()
            with up.cond:
                up.stats.backlog = backlog


def check_backlog(alarms: Alarms, backlog: int, threshold: int) -> bool:
    """Raise the backlog alarm above ``threshold``; clear it once the backlog has fallen to
    ``BACKLOG_CLEAR_RATIO`` of it (hysteresis: a backlog hovering at the threshold does not
    flap). True when an alarm event was written."""
    if threshold <= 0:
        return False
    if backlog > threshold:
        return alarms.raise_(
            "backlog",
            "warning",
            f"{backlog} events wait for the county (threshold {threshold})",
            {"backlog": backlog, "threshold": threshold},
        )
    if backlog <= threshold * BACKLOG_CLEAR_RATIO:
        return alarms.clear("backlog")
    return False


# ---- from configuration ----------------------------------------------------------


class AgentConfigError(ValueError):
    pass


def software_version() -> str:
    try:
        return importlib.metadata.version("agriqs-kiosk")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def uplink_settings(config: KioskConfig) -> UplinkSettings:
    up = config.uplink
    password = None
    if up.password_file is not None:
        try:
            password = up.password_file.read_text("utf-8").strip()
        except OSError as error:
            raise AgentConfigError(f"uplink.password_file: {error}") from None
    return UplinkSettings(
        host=up.host,
        port=up.port,
        tls=TlsSettings.from_files(up.tls_ca, up.tls_cert, up.tls_key),
        username=up.username,
        password=password,
        topic_prefix=up.topic_prefix,
        keepalive_s=up.keepalive_s,
        session_expiry_s=up.session_expiry_s,
        inflight_window=up.inflight_window,
        backlog_alarm_threshold=up.backlog_alarm_threshold,
        retention_days=up.retention_days,
        poll_interval_s=up.poll_interval_s,
    )


def open_uplink(config: KioskConfig, config_version: str = "0") -> Uplink:
    return Uplink(
        uplink_settings(config),
        config.paths.database,
        config.device.county,
        config.device.device_id,
        versions=Versions(software_version(), config_version),
    )


# ---- running the uplink as its own process ---------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.infra.uplink",
        description="Drain a kiosk outbox to the county broker.",
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--county", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--window", type=int, default=UplinkSettings.inflight_window)
    parser.add_argument("--reconnect-min", type=float, default=UplinkSettings.reconnect_min_s)
    parser.add_argument("--poll", type=float, default=UplinkSettings.poll_interval_s)
    parser.add_argument("--ack-flush", type=float, default=UplinkSettings.ack_flush_s)
    parser.add_argument("--ack-batch", type=int, default=UplinkSettings.ack_batch)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the composition root normally runs Uplink in-process."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = UplinkSettings(
        host=args.host,
        port=args.port,
        tls=TlsSettings.from_files(args.ca, args.cert, args.key),
        username=args.username,
        password=args.password,
        topic_prefix=args.prefix,
        inflight_window=args.window,
        reconnect_min_s=args.reconnect_min,
        poll_interval_s=args.poll,
        ack_flush_s=args.ack_flush,
        ack_batch=args.ack_batch,
    )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with Uplink(settings, args.db, args.county, args.device):
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
