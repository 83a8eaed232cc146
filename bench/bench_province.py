"""A province of kiosks: N simulated kiosks, one Mosquitto, the county collector(s).

One real Mosquitto runs the production identity setup (docs/deploy/mosquitto: the ACL
from make_acl.py, a hashed password per account, the agriqs_clientid plugin and the
queue limits of mosquitto.conf) on plain TCP on loopback (the TLS handshake is not
measured). One or more ``station collect`` processes store into a fresh SQLite file,
or a fresh PostgreSQL database with ``--postgres``.

N kiosks live in this one process: N paho clients (the library the kiosk uplink uses,
made by ``wire.mqtt.make_client`` as the uplink makes them) on one thread, driven
through paho's external-loop calls (``loop_read``/``loop_write``/``loop_misc``) from
one epoll selector, so 2,000 connections cost 2,000 sockets, not 2,000 threads. Each
kiosk is ``330100-Kxxxx`` with its own account, a retained birth and Will on its state
topic, MQTT v5 persistent session (clean start off, 7-day expiry), an in-flight window
of 100, and an outbox: events wait there until PUBACKed, paho resends the in-flight
ones after a reconnect, and a PUBACK 0x10 (no collector subscribed yet) puts the event
back and pauses the kiosk as ``kiosk/infra/uplink.py`` does. Events are built with the
``wire/events.py`` builders (validated against the schemas): per certificate an
``issued`` and a ``printed``, a reprint for 10 % and a void for 5 % (2.15 events per
certificate, docs/scale.md), certificates arriving as a Poisson process of 120 per kiosk
per compressed day. The default day lasts 600 s (144x real time): 2,000 kiosks then
send 860 events/s, ten times the whole province's morning peak in docs/scale.md, which
a shared 2-core machine running the simulator, broker and collector together still
sustains; ``--day-seconds 60`` finds where it stops. The envelope ``time`` is the
moment of the first publish, so the store's ``received_at`` minus it is the collector
lag; "steady" lag counts events first published from the start of the load until 3 s
before the broker stops.

Mid-run the broker is stopped (SIGTERM, persistence saved; ``--kill`` for SIGKILL) and
started again on the same port; the kiosks reconnect with the uplink's jittered backoff.
Reported: broker CPU seconds and peak RSS (/proc), collector lag p50/p99 (before the
restart and overall), reconnection time per kiosk after the restart (p50/p99/all; the
kiosks' backoff decides most of it, so the connect-to-CONNACK time of each kiosk's
successful attempt is shown too), and events lost: PUBACKed by the broker but not in
the store. Lost > 0 fails the run, as do refused or quarantined events.

Baseline in the same run: ``mosquitto_pub -l`` from one connection publishes events at
the same aggregate rate for the same time as the steady phase (capped at 45,000 events:
past the collector's per-device burst budget a single device would be rate-limited),
into the same broker and collectors; the figures print as ratios to it.

    .venv/bin/python bench/bench_province.py --kiosks 500
    .venv/bin/python bench/bench_province.py --kiosks 2000 --postgres
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.mqtt_broker import Broker, start_broker  # noqa: E402
from support.uplink import deploy_acl  # noqa: E402

from station.db import Database  # noqa: E402
from wire import events  # noqa: E402
from wire.mqtt import (  # noqa: E402
    PUBACK_FAILURE_MIN,
    BrokerSettings,
    Client,
    ReasonCode,
    Will,
    _connect_options,
    jittered_backoff,
    make_client,
)
from wire.topics import PREFIX, event_topic, state_topic  # noqa: E402

COUNTY = "330100"
CST = timezone(timedelta(hours=8))
#: docs/scale.md load model.
CERTIFICATES_PER_DAY = 120
REPRINT_SHARE = 0.10
VOID_SHARE = 0.05
#: kiosk/infra/uplink.py defaults.
INFLIGHT_WINDOW = 100
SESSION_EXPIRY_S = 7 * 24 * 3600
KEEPALIVE_S = 60
PUBACK_NO_SUBSCRIBERS = 0x10
NO_SUBSCRIBER_RETRY_S = 5.0
#: The collector's per-device burst budget is 50,000 (station/collector.py).
BASELINE_MAX_EVENTS = 45_000
BASELINE_DEVICE = "K9999"
#: Events first published this close to the broker's stop count as hit by the restart.
STEADY_GUARD_S = 3.0
#: Threads that make TCP connections (a kiosk's blocked SYN must not stall the others).
CONNECT_THREADS = 64
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: mosquitto.conf of the deployment, minus listeners, logging and the files start_broker
#: writes itself.
BROKER_SETTINGS = """\
autosave_interval 60
persistent_client_expiration 14d
max_queued_messages 2000000
max_queued_bytes 0
max_inflight_messages 100
message_size_limit 262144
max_connections -1
"""


class BenchFailure(RuntimeError):
    """The run broke a hard rule (events lost, refused, quarantined, not reconnected)."""


# ---- measuring processes ---------------------------------------------------------------


def proc_cpu_s(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of ``pid`` (or of its thread ``tid``) so far."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class BrokerMeter:
    """CPU and peak RSS summed over the broker's processes (one per start)."""

    broker: Broker
    cpu_done: float = 0.0  # of processes already stopped
    peak_rss_mb: float = 0.0

    def cpu(self) -> float:
        pid = self.broker.pid
        return self.cpu_done + (proc_cpu_s(pid) if pid else 0.0)

    def sample_rss(self) -> None:
        pid = self.broker.pid
        if pid:
            self.peak_rss_mb = max(self.peak_rss_mb, proc_peak_rss_mb(pid))

    def before_stop(self) -> None:
        pid = self.broker.pid
        if pid:
            self.sample_rss()
            self.cpu_done += proc_cpu_s(pid)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat), all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / tick, sum(values) / tick


def listen_overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


# ---- accounts and processes ----------------------------------------------------------


def device_name(index: int) -> str:
    return f"K{index + 1:04d}"


def write_accounts(work: Path, kiosks: int, collectors: int) -> dict[str, str]:
    """The production ACL and a hashed password file for every account; returns the
    plain passwords (``mosquitto_passwd -U`` hashes the whole file in one call)."""
    users = [f"{COUNTY}/{device_name(i)}" for i in range(kiosks)]
    users.append(f"{COUNTY}/{BASELINE_DEVICE}")
    lines = [f"kiosk {u}" for u in users]
    collector_users = [f"collector-{COUNTY}-{n + 1}" for n in range(collectors)]
    lines += [f"collector {u} {COUNTY}" for u in collector_users]
    deploy_acl(work, "\n".join(lines) + "\n")
    passwords = {u: uuid.uuid4().hex for u in users + collector_users}
    path = work / "passwd"
    path.write_text("".join(f"{u}:{p}\n" for u, p in passwords.items()))
    path.chmod(0o600)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise BenchFailure("mosquitto_passwd not found (package mosquitto)")
    subprocess.run([tool, "-U", str(path)], check=True, capture_output=True)
    return passwords


def raise_open_files(needed: int) -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; the broker inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < needed:
        raise BenchFailure(f"open-files limit {soft} < {needed}: raise the hard limit (ulimit -Hn)")
    return soft, hard


@dataclass
class Store:
    """Where the collectors write: a SQLite file or a fresh PostgreSQL database."""

    url: str
    drop: Callable[[], None] = lambda: None

    @classmethod
    def make(cls, work: Path, postgres: bool) -> Store:
        if not postgres:
            return cls(str(work / "station.db"))
        import psycopg

        name = f"bench_province_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")

        def drop() -> None:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

        return cls(f"postgresql://postgres@127.0.0.1:5432/{name}", drop)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with Database(self.url) as db:
            return db.query(sql, params)

    def count(self) -> int:
        with Database(self.url) as db:
            return db.count_events()


def spawn_collectors(work: Path, store: Store, port: int, passwords: dict[str, str],
                     count: int) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    procs = []
    for n in range(count):
        user = f"collector-{COUNTY}-{n + 1}"
        secret = work / f"{user}.pw"
        secret.write_text(passwords[user])
        secret.chmod(0o600)
        log = (work / f"{user}.log").open("ab")
        command = [sys.executable, "-m", "station.cli", "collect", "--db", store.url,
                   "--host", "127.0.0.1", "--port", str(port), "--county", COUNTY,
                   "--username", user, "--password-file", str(secret)]  # fmt: skip
        procs.append(subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    return procs


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# ---- the kiosks ------------------------------------------------------------------------


def now_text() -> str:
    return datetime.now(CST).isoformat()


def certificate_events(device: str, number: int, issuer: str) -> list[events.Event]:
    """What one certificate sends: issued, printed, sometimes a reprint or a void."""
    cert_no = f"{COUNTY}-{device}-{number:07d}"
    issued = events.certificate_issued(
        number=cert_no, seq=number, issued_at=datetime.now(CST),
        template_id="2025-style1", style="style1", product_code="VEG-CABBAGE",
        product_name="大白菜", quantity=Decimal(random.randint(5, 500)) / 10, unit="公斤",
        origin="示范镇东村", issuer_name=issuer, issuer_phone="13800000000",
        producer_key=f"P-{random.randint(1, 9999):04d}", basis="self_test",
        inputs_used=["I-IMIDACLOPRID"], test_ref=None, source_certificate=None,
        township="示范镇", service_point="示范镇农产品质量安全服务点",
    )  # fmt: skip
    out = [issued, events.certificate_printed(number=cert_no, copies=1)]
    if random.random() < REPRINT_SHARE:
        out.append(events.certificate_reprinted(number=cert_no, copies=1, reprint_no=1))
    if random.random() < VOID_SHARE:
        out.append(events.certificate_voided(number=cert_no, reason="称重有误"))
    return out


class Kiosk:
    """One simulated kiosk: its paho client and the outbox the uplink would keep."""

    def __init__(self, fleet: Fleet, index: int, password: str) -> None:
        self.fleet = fleet
        self.device = device_name(index)
        self.state_topic = state_topic(PREFIX, COUNTY, self.device)
        self.topic = event_topic(PREFIX, COUNTY, self.device, "certificate")
        self.seq = 0
        self.certificates = 0
        self.payloads: dict[int, bytes] = {}  # the outbox: unacknowledged events
        self.settings = BrokerSettings(
            host="127.0.0.1", port=fleet.port, username=f"{COUNTY}/{self.device}",
            password=password, client_id=f"{COUNTY}-{self.device}", keepalive_s=KEEPALIVE_S,
            session_expiry_s=SESSION_EXPIRY_S, reconnect_min_s=fleet.reconnect_min_s,
        )  # fmt: skip
        self.client: Client = make_client(
            self.settings,
            will=Will(self.state_topic, self.state_payload("offline")),
            max_inflight=INFLIGHT_WINDOW + 1,  # + the birth, as the uplink
            on_connect=self.on_connect,
            on_disconnect=self.on_disconnect,
            on_publish=self.on_publish,
            on_socket_open=fleet.on_socket_open,
            on_socket_close=fleet.on_socket_close,
            on_socket_register_write=fleet.on_register_write,
            on_socket_unregister_write=fleet.on_unregister_write,
        )
        self.client.user_data_set(self)
        options = _connect_options(self.settings)  # the CONNECT every kiosk sends
        self.client.connect_async("127.0.0.1", fleet.port, **options)
        self.first_sent: dict[int, float] = {}  # seq -> wall time of the first publish
        self.pending: list[int] = []  # heap of seqs not handed to paho
        self.inflight: dict[int, int] = {}  # mid -> seq
        self.acked: list[int] = []
        self.connected = False
        self.connecting = False
        self.attempt = 0
        self.paused_until = 0.0
        self.refusal_attempt = 0
        self.resume_scheduled = False
        self.connected_at = 0.0  # monotonic time of the latest CONNACK
        self.attempt_started = 0.0
        self.handshake_s = 0.0  # from the TCP connect to the CONNACK, latest connection
        self.refused = 0
        self.undelivered = 0

    def state_payload(self, status: str) -> bytes:
        return json.dumps({"status": status, "software_version": "bench",
                           "config_version": "0", "backlog": len(self.payloads),
                           "time": now_text()}).encode()  # fmt: skip

    # -- network (the fleet's thread) --

    def connect(self) -> None:
        """On a worker thread: a connect whose SYN the broker's full accept queue dropped
        blocks for the kernel's SYN retry (1 s, 3 s), and must block only this kiosk."""
        self.connecting = True
        self.fleet.connector.submit(self._connect)

    def _connect(self) -> None:
        self.attempt_started = time.monotonic()
        try:
            self.client.reconnect()
        except OSError:
            self.retry_later()
        finally:
            self.connecting = False

    def retry_later(self) -> None:
        delay = jittered_backoff(self.attempt, self.fleet.reconnect_min_s, 120.0)
        self.attempt += 1
        self.fleet.at(time.monotonic() + delay, self.connect)

    def on_connect(self, c: Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            self.fleet.connect_refusals += 1
            return  # paho closes; on_disconnect schedules the retry
        self.attempt = 0
        self.connected = True
        self.connected_at = time.monotonic()
        self.handshake_s = self.connected_at - self.attempt_started
        self.fleet.connected += 1
        c.publish(self.state_topic, self.state_payload("online"), qos=1, retain=True)
        self.feed()

    def on_disconnect(self, _c: Client, _u: Any, _f: Any, _rc: ReasonCode, _p: Any) -> None:
        if self.connected:
            self.fleet.connected -= 1
        self.connected = False
        if not self.fleet.closing:
            self.retry_later()

    def on_publish(self, _c: Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        seq = self.inflight.pop(mid, None)
        if seq is None:
            return  # the birth
        code = rc.value
        if code == PUBACK_NO_SUBSCRIBERS:  # the broker dropped it: keep it, pause, resend
            self.undelivered += 1
            heapq.heappush(self.pending, seq)
            now = time.monotonic()
            if now >= self.paused_until:  # one hold per burst of 0x10, as the uplink
                low = self.fleet.no_subscriber_retry_s
                self.paused_until = now + jittered_backoff(self.refusal_attempt, low, 8 * low)
                self.refusal_attempt += 1
            self.feed()  # schedules the resume: nothing else may call feed() again
            return
        if code >= PUBACK_FAILURE_MIN:  # the uplink parks it as refused; the run fails
            self.refused += 1
            self.fleet.refusal_codes[code] = self.fleet.refusal_codes.get(code, 0) + 1
            del self.payloads[seq]
            return
        self.refusal_attempt = 0
        self.acked.append(seq)
        del self.payloads[seq]
        self.feed()

    # -- the outbox --

    def issue_certificate(self) -> None:
        self.certificates += 1
        for event in certificate_events(self.device, self.certificates, "张三"):
            self.seq += 1
            doc = events.envelope(
                event, county=COUNTY, device=self.device, seq=self.seq, time=datetime.now(CST)
            )
            self.payloads[self.seq] = json.dumps(doc, ensure_ascii=False).encode()
            heapq.heappush(self.pending, self.seq)
        self.feed()

    def feed(self) -> None:
        """Hand waiting events to paho while connected, unpaused and the window has room."""
        if not self.connected or not self.pending:
            return
        now = time.monotonic()
        if now < self.paused_until:
            if not self.resume_scheduled:
                self.resume_scheduled = True
                self.fleet.at(self.paused_until, self.resume)
            return
        while self.pending and len(self.inflight) < INFLIGHT_WINDOW:
            seq = heapq.heappop(self.pending)
            if seq not in self.first_sent:
                self.first_sent[seq] = time.time()
            info = self.client.publish(self.topic, self.payloads[seq], qos=1)
            self.inflight[info.mid] = seq
            self.fleet.published += 1

    def resume(self) -> None:
        self.resume_scheduled = False
        self.feed()


@dataclass(order=True)
class _Timer:
    due: float
    order: int
    action: Callable[[], None] = field(compare=False)


class Fleet:
    """N kiosks on one thread: an epoll selector over their sockets and a timer heap."""

    def __init__(self, port: int, passwords: dict[str, str], kiosks: int, *, day_s: float,
                 reconnect_min_s: float, no_subscriber_retry_s: float) -> None:  # fmt: skip
        self.port = port
        self.day_s = day_s
        self.reconnect_min_s = reconnect_min_s
        self.no_subscriber_retry_s = no_subscriber_retry_s
        self.selector = selectors.DefaultSelector()
        self.timers: list[_Timer] = []
        self.order = 0
        self.lock = threading.Lock()  # guards ``timers`` against at() from the main thread
        self.connected = 0
        self.connect_refusals = 0
        self.refusal_codes: dict[int, int] = {}
        self.published = 0
        self.closing = False
        self.loading = False
        self.stopped = threading.Event()
        self.longest_turn_s = 0.0
        self.longest_turn_at = 0.0  # monotonic
        self.kiosks = [
            Kiosk(self, i, passwords[f"{COUNTY}/{device_name(i)}"]) for i in range(kiosks)
        ]
        self.thread = threading.Thread(target=self.run, name="fleet", daemon=True)
        self.native_id = 0
        self.error = ""  # the event loop's traceback if it died
        self.connector = ThreadPoolExecutor(CONNECT_THREADS, thread_name_prefix="connect")

    # paho's external-loop hooks
    def on_socket_open(self, _c: Client, kiosk: Kiosk, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, kiosk)

    def on_socket_close(self, _c: Client, _k: Kiosk, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def on_register_write(self, _c: Client, kiosk: Kiosk, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, kiosk)

    def on_unregister_write(self, _c: Client, kiosk: Kiosk, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ, kiosk)

    def at(self, due: float, action: Callable[[], None]) -> None:
        with self.lock:
            self.order += 1
            heapq.heappush(self.timers, _Timer(due, self.order, action))

    def start(self, spread_s: float) -> None:
        """Kiosks boot over ``spread_s`` seconds (a county is not switched on at once)."""
        now = time.monotonic()
        for kiosk in self.kiosks:
            self.at(now + random.uniform(0, spread_s), kiosk.connect)
        self.thread.start()

    def start_load(self) -> None:
        self.loading = True
        now = time.monotonic()
        for kiosk in self.kiosks:
            self.at(now + self.next_gap(), self._certificate(kiosk))

    def next_gap(self) -> float:
        return random.expovariate(CERTIFICATES_PER_DAY / self.day_s)

    def _certificate(self, kiosk: Kiosk) -> Callable[[], None]:
        def issue() -> None:
            if not self.loading:
                return
            kiosk.issue_certificate()
            self.at(time.monotonic() + self.next_gap(), issue)

        return issue

    def run(self) -> None:
        self.native_id = threading.get_native_id()
        try:
            self._run()
        except BaseException:
            self.error = traceback.format_exc()
            raise

    def _run(self) -> None:
        next_misc = time.monotonic() + 1.0
        while not self.stopped.is_set():
            with self.lock:
                wait = self.timers[0].due - time.monotonic() if self.timers else 0.05
            started = time.monotonic()
            for key, mask in self.selector.select(min(max(wait, 0.0), 0.05)):
                client = key.data.client
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
            now = time.monotonic()
            while True:
                with self.lock:
                    if not self.timers or self.timers[0].due > now:
                        break
                    timer = heapq.heappop(self.timers)
                timer.action()
            if now >= next_misc:
                next_misc = now + 1.0
                for kiosk in self.kiosks:
                    if not kiosk.connecting:
                        kiosk.client.loop_misc()  # keepalive PINGREQ
            turn = time.monotonic() - started
            if turn > self.longest_turn_s:
                self.longest_turn_s, self.longest_turn_at = turn, started

    def call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the fleet's thread (paho clients are not shared)."""
        done = threading.Event()

        def wrapped() -> None:
            try:
                action()
            finally:
                done.set()

        self.at(0.0, wrapped)
        if not done.wait(30):
            raise BenchFailure("the fleet thread did not answer")

    def diagnose(self) -> str:
        """Why outboxes do not drain: the state of the first kiosks that still hold events."""
        now = time.monotonic()
        stuck = [k for k in self.kiosks if k.payloads]
        lines = [self.error] if self.error else []
        lines += [f"{len(stuck)} kiosks hold {self.backlog()} events; PUBACK refusals "
                 f"{self.refusal_codes}"]  # fmt: skip
        for k in stuck[:8]:
            c: Any = k.client
            states = sorted({m.state for m in c._out_messages.values()})
            lines.append(
                f"  {k.device}: connected {k.connected} connecting {k.connecting} "
                f"paho connected {c.is_connected()} pending {len(k.pending)} inflight "
                f"{len(k.inflight)} paused {k.paused_until - now:+.1f} s resume "
                f"{k.resume_scheduled} paho out {len(c._out_messages)} states {states} "
                f"paho inflight {c._inflight_messages} out packets {len(c._out_packet)}"
            )
        return "\n".join(lines)

    def backlog(self) -> int:
        return sum(len(k.payloads) for k in self.kiosks)

    def close(self) -> None:
        def disconnect_all() -> None:
            self.closing = True
            for kiosk in self.kiosks:
                with contextlib.suppress(Exception):
                    kiosk.client.disconnect()

        if self.thread.is_alive():
            self.call(disconnect_all)
            time.sleep(0.3)
            self.stopped.set()
            self.thread.join(10)
        self.connector.shutdown(wait=False, cancel_futures=True)

    def cpu_s(self) -> float:
        """CPU seconds of the fleet's event-loop thread (not the connect workers)."""
        return proc_cpu_s(os.getpid(), self.native_id) if self.native_id else 0.0


# ---- the run ---------------------------------------------------------------------------


@dataclass
class Options:
    """One run, as the command line sets it (the smoke test shortens every phase)."""

    kiosks: int = 500
    collectors: int = 1
    postgres: bool = False
    day_s: float = 600.0
    duration_s: float = 60.0
    restart_at_s: float = 25.0
    down_s: float = 2.0
    kill: bool = False
    reconnect_min_s: float = 1.0
    no_subscriber_retry_s: float = NO_SUBSCRIBER_RETRY_S
    boot_spread_s: float = 5.0
    baseline: bool = True
    drain_timeout_s: float = 180.0


@dataclass
class Result:
    """What the report prints; ``check()`` decides whether the run passes."""

    kiosks: int
    target_rate: float
    published_events: int = 0
    acked: int = 0
    stored: int = 0
    lost: int = 0
    refused: int = 0
    quarantined: int = 0
    undelivered_0x10: int = 0
    connect_refusals: int = 0
    initial_connect_s: float = 0.0
    reconnect_p50_s: float = 0.0
    reconnect_p99_s: float = 0.0
    reconnect_all_s: float = 0.0
    handshake_p50_ms: float = 0.0
    handshake_p99_ms: float = 0.0
    lag_steady_p50_ms: float = 0.0
    lag_steady_p99_ms: float = 0.0
    lag_all_p50_ms: float = 0.0
    lag_all_p99_ms: float = 0.0
    lag_all_max_ms: float = 0.0
    steady_events: int = 0
    events_before_stop: int = 0
    steady_rate: float = 0.0
    broker_cpu_s: float = 0.0
    broker_cpu_steady_s: float = 0.0
    broker_peak_rss_mb: float = 0.0
    collector_cpu_s: float = 0.0
    fleet_cpu_s: float = 0.0
    collector_cpu_steady_s: float = 0.0
    fleet_cpu_steady_s: float = 0.0
    machine_busy_steady: float = 0.0
    steady_s: float = 0.0
    listen_overflows: int = 0
    longest_turn_ms: float = 0.0
    longest_turn_after_up_s: float = 0.0
    states_online: int = 0
    base_events: int = 0
    base_cpu_s: float = 0.0
    base_lag_p50_ms: float = 0.0
    base_lag_p99_ms: float = 0.0
    base_rss_mb: float = 0.0
    open_files: int = 0


def lag_ms(event_time: str, received: str) -> float:
    delta = datetime.fromisoformat(received) - datetime.fromisoformat(event_time)
    return delta.total_seconds() * 1e3


def run(opts: Options, work: Path) -> Result:
    result = Result(opts.kiosks, opts.kiosks * CERTIFICATES_PER_DAY * 2.15 / opts.day_s)
    # Per kiosk: its socket and paho's wake-up socket pair.
    result.open_files = raise_open_files(3 * opts.kiosks + 200)[0]
    passwords = write_accounts(work, opts.kiosks, opts.collectors)
    broker = start_broker(
        work / "broker", acl=work / "acl", passwords=work / "passwd",
        bind_client_ids=True, extra_config=BROKER_SETTINGS,
    )  # fmt: skip
    meter = BrokerMeter(broker)
    store = Store.make(work, opts.postgres)
    collectors: list[subprocess.Popen[bytes]] = []
    fleet: Fleet | None = None
    cpu_self0 = time.process_time()
    try:
        collectors = spawn_collectors(work, store, broker.port, passwords, opts.collectors)
        wait_for(lambda: broker.log().count(f"as collector-{COUNTY}-") >= opts.collectors,
                 30, "the collectors to connect")  # fmt: skip
        wait_for(lambda: _exists(store), 30, "the store")
        fleet = Fleet(broker.port, passwords, opts.kiosks, day_s=opts.day_s,
                      reconnect_min_s=opts.reconnect_min_s,
                      no_subscriber_retry_s=opts.no_subscriber_retry_s)  # fmt: skip
        t0 = time.monotonic()
        fleet.start(opts.boot_spread_s)
        f = fleet
        wait_for(lambda: f.connected == opts.kiosks, 60 + opts.boot_spread_s, "every kiosk")
        result.initial_connect_s = time.monotonic() - t0
        time.sleep(1.0)  # births settle
        cpu_load0 = meter.cpu()
        collectors0 = sum(proc_cpu_s(p.pid) for p in collectors)
        fleet0 = fleet.cpu_s()
        busy0, total0 = machine_busy()
        wall_load0 = time.time()
        load_started = time.monotonic()
        fleet.call(fleet.start_load)
        time.sleep(opts.restart_at_s)
        meter.before_stop()
        result.broker_cpu_steady_s = meter.cpu_done - cpu_load0
        result.collector_cpu_steady_s = sum(proc_cpu_s(p.pid) for p in collectors) - collectors0
        result.fleet_cpu_steady_s = fleet.cpu_s() - fleet0
        busy1, total1 = machine_busy()
        result.machine_busy_steady = (busy1 - busy0) / max(total1 - total0, 1e-9)
        result.steady_s = opts.restart_at_s
        overflows0 = listen_overflows()
        wall_stop = time.time()
        broker.stop(kill=opts.kill)
        time.sleep(opts.down_s)
        broker.start()
        up = time.monotonic()
        wait_for(lambda: f.connected == opts.kiosks, 180, "every kiosk to reconnect")
        result.listen_overflows = listen_overflows() - overflows0
        times = [k.connected_at - up for k in fleet.kiosks]
        result.reconnect_p50_s = percentile(times, 50)
        result.reconnect_p99_s = percentile(times, 99)
        result.reconnect_all_s = max(times)
        handshakes = [k.handshake_s for k in fleet.kiosks]
        result.handshake_p50_ms = percentile(handshakes, 50) * 1e3
        result.handshake_p99_ms = percentile(handshakes, 99) * 1e3
        time.sleep(max(0.0, opts.duration_s - (time.monotonic() - load_started)))
        fleet.loading = False
        try:
            wait_for(lambda: f.backlog() == 0, opts.drain_timeout_s, "the outboxes to drain")
        except BenchFailure:
            print(fleet.diagnose(), file=sys.stderr)
            raise
        result.acked = sum(len(k.acked) for k in fleet.kiosks)
        deadline = time.monotonic() + opts.drain_timeout_s
        while store.count() < result.acked and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        meter.sample_rss()
        result.broker_cpu_s = meter.cpu()
        result.broker_peak_rss_mb = meter.peak_rss_mb
        result.fleet_cpu_s = time.process_time() - cpu_self0
        result.longest_turn_ms = fleet.longest_turn_s * 1e3
        result.longest_turn_after_up_s = fleet.longest_turn_at - up
        result.published_events = sum(k.seq for k in fleet.kiosks)
        result.refused = sum(k.refused for k in fleet.kiosks)
        result.undelivered_0x10 = sum(k.undelivered for k in fleet.kiosks)
        result.connect_refusals = fleet.connect_refusals
        _account(result, fleet, store, wall_load0, wall_stop)
        if opts.baseline:
            _baseline(result, opts, broker, meter, store, passwords, work)
        result.collector_cpu_s = sum(proc_cpu_s(p.pid) for p in collectors)
    finally:
        if fleet is not None:
            fleet.close()
        for proc in collectors:
            proc.send_signal(signal.SIGTERM)
        for proc in collectors:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.close()
        store.drop()
    return result


def _exists(store: Store) -> bool:
    try:
        store.count()
    except Exception:
        return False
    return True


def _account(result: Result, fleet: Fleet, store: Store, load0: float, stop: float) -> None:
    """Lost = acknowledged by the broker but not stored; lag from the envelope times."""
    rows = store.query(
        "SELECT device, seq, event_time, received_at FROM events WHERE county = ?", (COUNTY,)
    )
    stored = {(d, s) for d, s, _, _ in rows}
    result.stored = len(stored)
    missing = [(k.device, s) for k in fleet.kiosks for s in k.acked if (k.device, s) not in stored]
    result.lost = len(missing)
    if missing:
        print(f"LOST {len(missing)} acknowledged events, e.g. {missing[:10]}", file=sys.stderr)
    result.quarantined = store.query("SELECT COUNT(*) FROM quarantine")[0][0]
    result.states_online = store.query(
        "SELECT COUNT(*) FROM device_state WHERE county = ? AND status = 'online'", (COUNTY,)
    )[0][0]
    sent = {(k.device, s): t for k in fleet.kiosks for s, t in k.first_sent.items()}
    all_lags: list[float] = []
    steady: list[float] = []
    for device, seq, event_time, received in rows:
        if device == BASELINE_DEVICE:
            continue
        lag = lag_ms(event_time, received)
        all_lags.append(lag)
        first = sent.get((device, seq), 0.0)
        if load0 <= first < stop:
            result.events_before_stop += 1
        if load0 <= first < stop - STEADY_GUARD_S:
            steady.append(lag)
    result.steady_events = len(steady)
    result.steady_rate = len(steady) / max(stop - STEADY_GUARD_S - load0, 1e-9)
    result.lag_steady_p50_ms = percentile(steady, 50)
    result.lag_steady_p99_ms = percentile(steady, 99)
    result.lag_all_p50_ms = percentile(all_lags, 50)
    result.lag_all_p99_ms = percentile(all_lags, 99)
    result.lag_all_max_ms = max(all_lags, default=float("nan"))


def _baseline(result: Result, opts: Options, broker: Broker, meter: BrokerMeter, store: Store,
              passwords: dict[str, str], work: Path) -> None:  # fmt: skip
    """The steady phase's events at its rate, from one ``mosquitto_pub -l`` connection."""
    rate = max(result.steady_rate, 1.0)
    count = min(result.steady_events, BASELINE_MAX_EVENTS)
    if count == 0:
        return
    user = f"{COUNTY}/{BASELINE_DEVICE}"
    topic = event_topic(PREFIX, COUNTY, BASELINE_DEVICE, "certificate")
    before = store.count()
    cpu0 = meter.cpu()
    proc = subprocess.Popen(
        ["mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", topic, "-l", "-u", user, "-P", passwords[user], "-i", f"{COUNTY}-{BASELINE_DEVICE}"],
        stdin=subprocess.PIPE, stderr=(work / "mosquitto_pub.log").open("ab"),
    )  # fmt: skip
    time.sleep(1.0)  # connected before the first line, as the kiosks were
    assert proc.stdin is not None
    seq = 0
    certificate = 0
    start = time.monotonic()
    while seq < count:
        due = int((time.monotonic() - start) * rate) + 1
        lines = []
        while seq < min(due, count):
            certificate += 1
            for event in certificate_events(BASELINE_DEVICE, certificate, "李四"):
                if seq >= count:
                    break
                seq += 1
                doc = events.envelope(event, county=COUNTY, device=BASELINE_DEVICE, seq=seq,
                                      time=datetime.now(CST))  # fmt: skip
                lines.append(json.dumps(doc, ensure_ascii=False))
        if lines:
            proc.stdin.write(("\n".join(lines) + "\n").encode())
            proc.stdin.flush()
        time.sleep(0.005)
    proc.stdin.close()
    proc.wait(60)
    wait_for(lambda: store.count() >= before + count, opts.drain_timeout_s, "the baseline events")
    result.base_cpu_s = meter.cpu() - cpu0
    result.base_events = count
    lags = [
        lag_ms(t, r)
        for t, r in store.query(
            "SELECT event_time, received_at FROM events WHERE county = ? AND device = ?",
            (COUNTY, BASELINE_DEVICE),
        )
    ]
    result.base_lag_p50_ms = percentile(lags, 50)
    result.base_lag_p99_ms = percentile(lags, 99)


def check(result: Result) -> list[str]:
    """Hard rules: a run that breaks one fails, whatever its figures."""
    problems = []
    if result.lost:
        problems.append(f"{result.lost} events PUBACKed by the broker are not in the store")
    if result.refused:
        problems.append(f"the broker refused {result.refused} events (PUBACK >= 0x80)")
    if result.quarantined:
        problems.append(f"the collector quarantined {result.quarantined} messages")
    if result.acked == 0:
        problems.append("no event was acknowledged")
    return problems


def report(r: Result, opts: Options) -> None:
    store = "PostgreSQL" if opts.postgres else "SQLite"
    how = "SIGKILL" if opts.kill else "SIGTERM"
    per_k = (r.broker_cpu_steady_s / max(r.events_before_stop, 1)) * 1e6
    base_per_k = (r.base_cpu_s / max(r.base_events, 1)) * 1e6
    print(f"kiosks                 {r.kiosks} (one process, one thread), {opts.collectors} "
          f"collector(s) on {store}; open files {r.open_files}")  # fmt: skip
    print(f"load                   a day in {opts.day_s:.0f} s: target {r.target_rate:.0f} "
          f"events/s, steady phase {r.steady_rate:.0f} events/s "
          f"({r.steady_events} events)")  # fmt: skip
    print(f"initial connect        all {r.kiosks} in {r.initial_connect_s:.1f} s "
          f"(boot spread {opts.boot_spread_s:.0f} s)")  # fmt: skip
    print(f"broker restart         {how} at {opts.restart_at_s:.0f} s, down {opts.down_s:.0f} s; "
          f"reconnect p50 {r.reconnect_p50_s:.2f} s p99 {r.reconnect_p99_s:.2f} s "
          f"all {r.reconnect_all_s:.2f} s")  # fmt: skip
    print(f"reconnect handshakes   connect to CONNACK p50 {r.handshake_p50_ms:.0f} ms p99 "
          f"{r.handshake_p99_ms:.0f} ms; SYNs dropped at a full accept queue "
          f"{r.listen_overflows}")  # fmt: skip
    print(f"events                 published {r.published_events}, PUBACKed {r.acked}, "
          f"stored {r.stored}, LOST {r.lost}, refused {r.refused}, "
          f"quarantined {r.quarantined}, 0x10 retried {r.undelivered_0x10}")  # fmt: skip
    s = max(r.steady_s, 1e-9)
    print(f"steady-phase CPU       broker {r.broker_cpu_steady_s / s:.0%}, collectors "
          f"{r.collector_cpu_steady_s / s:.0%}, kiosk simulator {r.fleet_cpu_steady_s / s:.0%} "
          f"of one core; whole machine {r.machine_busy_steady:.0%} busy "
          f"({os.cpu_count()} cores, shared)")  # fmt: skip
    print(f"states online          {r.states_online}/{r.kiosks}; CONNACK refusals "
          f"{r.connect_refusals}")  # fmt: skip
    print(f"lag steady (ms)        p50 {r.lag_steady_p50_ms:.0f}  p99 {r.lag_steady_p99_ms:.0f}")
    print(f"lag all (ms)           p50 {r.lag_all_p50_ms:.0f}  p99 {r.lag_all_p99_ms:.0f}  "
          f"max {r.lag_all_max_ms:.0f}  (includes the outage and the 0x10 pauses)")  # fmt: skip
    print(f"broker                 CPU {r.broker_cpu_s:.1f} s whole run, peak RSS "
          f"{r.broker_peak_rss_mb:.1f} MB; steady phase {per_k:.0f} us CPU/event")  # fmt: skip
    print(f"collectors CPU         {r.collector_cpu_s:.1f} s; fleet process CPU "
          f"{r.fleet_cpu_s:.1f} s, longest loop turn {r.longest_turn_ms:.0f} ms "
          f"({r.longest_turn_after_up_s:+.1f} s from the broker's return)")  # fmt: skip
    if r.base_events:
        print(f"baseline               mosquitto_pub, one connection, {r.base_events} events at "
              f"{r.steady_rate:.0f}/s: broker {base_per_k:.0f} us CPU/event, lag p50 "
              f"{r.base_lag_p50_ms:.0f} ms p99 {r.base_lag_p99_ms:.0f} ms")  # fmt: skip
        print(f"ratio kiosks/baseline  broker CPU per event {per_k / max(base_per_k, 1e-9):.2f}, "
              f"lag p50 {r.lag_steady_p50_ms / max(r.base_lag_p50_ms, 1e-9):.2f}, "
              f"lag p99 {r.lag_steady_p99_ms / max(r.base_lag_p99_ms, 1e-9):.2f}")  # fmt: skip


def parse_args(argv: list[str] | None) -> Options:
    d = Options()
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--kiosks", type=int, default=d.kiosks)
    p.add_argument("--collectors", type=int, default=d.collectors)
    p.add_argument("--postgres", action="store_true", help="a fresh database at 127.0.0.1:5432")
    p.add_argument("--day-seconds", type=float, default=d.day_s, help="one kiosk day lasts this")
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds of load")
    p.add_argument("--restart-at", type=float, default=d.restart_at_s, help="seconds into load")
    p.add_argument("--down", type=float, default=d.down_s, help="seconds the broker is down")
    p.add_argument("--kill", action="store_true", help="SIGKILL the broker (default SIGTERM)")
    p.add_argument("--reconnect-min", type=float, default=d.reconnect_min_s)
    p.add_argument("--no-baseline", action="store_true")
    a = p.parse_args(argv)
    return Options(kiosks=a.kiosks, collectors=a.collectors, postgres=a.postgres,
                   day_s=a.day_seconds, duration_s=a.duration, restart_at_s=a.restart_at,
                   down_s=a.down, kill=a.kill, reconnect_min_s=a.reconnect_min,
                   baseline=not a.no_baseline)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-province-"))
    try:
        result = run(opts, work)
    except BenchFailure as error:
        print(f"FAILED: {error} (work dir kept: {work})", file=sys.stderr)
        return 1
    report(result, opts)
    problems = check(result)
    if problems:
        for problem in problems:
            print(f"FAILED: {problem} (work dir kept: {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
