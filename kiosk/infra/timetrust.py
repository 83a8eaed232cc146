"""Whether the kiosk's clock may date a certificate (开具日期 is a legal fact).

A Raspberry Pi has no real-time clock: after a power cut without network it boots at
the time saved at shutdown (or 1970), and every signed QR carries that date. Three
things are weighed, in this order (``TimeTrust.assess``):

1. **The floor.** The clock may never be earlier than the newest certificate, audit
   entry or county time beacon this kiosk has seen. A certificate raises it inside its
   own transaction, in the database (counter ``time_floor_us``): exact, and durable
   with the certificate's own commit, at no cost of its own. The floor also lives in
   ``{data_dir}/time-floor.json`` (0600, written with fsync), which survives an older
   database put back: raised by every accepted beacon, by certificates whenever they
   pass it (dated to the minute: one rewrite per minute of issuing, not two fsyncs per
   certificate), and by the newest audit entries at a trusted moment (entries a wrong
   clock wrote never count) when they pass it by more than ``FILE_FLOOR_STEP_S``. The
   floor is the later of the two; it never goes down.
2. **The county's beacon** (wire/timebeacon.py), checked for signature and county by the
   agent. Its time plus the CLOCK_BOOTTIME elapsed since it arrived (same boot only) is
   the county's time now. A clock behind it beyond the tolerance is wrong; a clock ahead
   of it is wrong only when the beacon came live (a retained copy may be old: the
   station may have stopped). A live, agreeing beacon vouches for the clock.
3. **Synchronisation.** The OS says synchronised (timesyncd or chrony), or an RTC is
   fitted, or a live beacon agreed in this boot. Otherwise, after ``max_unsynced`` since
   boot (or since the last confirmation) the clock is not trusted.

The state of synchronisation and the boot come through one small seam (``TimeSource``),
so tests simulate each state; the wall clock is the services' injected clock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from wire.clock import CST
from wire.files import PRIVATE, atomic_write
from wire.timebeacon import TimeBeacon

log = logging.getLogger(__name__)

FLOOR_FILE = "time-floor.json"
SIM_FILE = "time-sim.json"
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
RTC_DIR = Path("/sys/class/rtc/rtc0")
#: NTP may step a clock back by a little; a certificate a few seconds "before" the
#: last one is not a wrong date.
FLOOR_SLACK_S = 5
#: The floor file is rewritten when an audit entry passes it by more than this (a
#: certificate's own audit entries are seconds newer than its minute: an exact floor
#: would rewrite the file at every certificate). Certificates move it exactly.
FILE_FLOOR_STEP_S = 60
#: The database's copy of the floor, in microseconds since the epoch (table counters).
DB_FLOOR = "time_floor_us"
#: The audit entries read for the floor (a refusal's own entry is among the newest).
AUDIT_WINDOW = 50
#: How long the OS's synchronisation answer is reused (a subprocess each time is ~10 ms).
STATUS_TTL_S = 30.0
#: The confirmation in the floor file is rewritten at most this often.
CONFIRM_EVERY_S = 60.0
#: The plain message (issue 18), then what happened.
PLAIN_ZH = "时间未校准，请联系工作人员。"
PLAIN_EN = "The clock is not set correctly. Please contact the staff."


@dataclass(frozen=True)
class ClockStatus:
    """What the OS says: synchronised (None: cannot tell) and whether an RTC is there."""

    synchronized: bool | None
    rtc: bool
    source: str


class TimeSource(Protocol):
    """The seam: synchronisation state, and the boot (id, seconds since boot)."""

    def status(self) -> ClockStatus: ...

    def boot(self) -> tuple[str, float]: ...


def system_boot() -> tuple[str, float]:
    """This boot's id and CLOCK_BOOTTIME (counts suspend; never set by anyone)."""
    try:
        boot_id = BOOT_ID_FILE.read_text("ascii").strip()
    except OSError:
        boot_id = "unknown"
    return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)


def parse_timedatectl(text: str) -> bool | None:
    """``timedatectl show`` output: NTPSynchronized=yes|no."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "NTPSynchronized":
            return value.strip() == "yes"
    return None


def parse_chrony(text: str) -> bool | None:
    """``chronyc -n tracking`` output: ``Leap status : Normal`` when synchronised."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Leap status":
            return value.strip() != "Not synchronised"
    return None


class SystemTimeSource:
    """timesyncd or chrony, asked by their own tools; an RTC if one is expected and there."""

    COMMANDS: ClassVar[dict[str, tuple[list[str], Callable[[str], bool | None]]]] = {
        "timesyncd": (["timedatectl", "show"], parse_timedatectl),
        "chrony": (["chronyc", "-n", "tracking"], parse_chrony),
    }

    def __init__(self, kind: str, *, rtc_expected: bool, rtc_dir: Path = RTC_DIR) -> None:
        self.kind = kind
        self.rtc_expected = rtc_expected
        self.rtc_dir = rtc_dir

    def status(self) -> ClockStatus:
        command, parse = self.COMMANDS[self.kind]
        try:
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=2.0, check=False
            ).stdout
            synced = parse(out)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.warning("%s: cannot read the synchronisation state: %s", self.kind, error)
            synced = None
        rtc = self.rtc_expected and self.rtc_dir.exists()
        return ClockStatus(synced, rtc, self.kind)

    def boot(self) -> tuple[str, float]:
        return system_boot()


class SimulatedTimeSource:
    """The simulation's state, in ``{data_dir}/time-sim.json`` (the technician's panel
    and tests write it): ``{"synchronized": true, "rtc": false}``; synchronised when
    absent. ``boot`` may be replaced to simulate a new boot or time passing."""

    def __init__(self, path: Path, boot: Callable[[], tuple[str, float]] = system_boot) -> None:
        self.path = path
        self._boot = boot

    def set(self, *, synchronized: bool | None = True, rtc: bool = False) -> None:
        body = json.dumps({"synchronized": synchronized, "rtc": rtc}).encode()
        atomic_write(self.path, body, mode=PRIVATE)

    def status(self) -> ClockStatus:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            data = {}
        synced = data.get("synchronized", True)
        return ClockStatus(synced if synced is None else bool(synced), bool(data.get("rtc")), "sim")

    def boot(self) -> tuple[str, float]:
        return self._boot()


@dataclass(frozen=True)
class TimeSettings:
    beacon_tolerance_s: int = 120
    max_unsynced_min: int = 30


@dataclass(frozen=True)
class TimeVerdict:
    """``trusted``; else ``code`` (below_floor, beacon_disagrees, unsynced) and why."""

    trusted: bool
    code: str
    source: str
    detail: dict[str, Any] = field(default_factory=dict)

    def why(self, language: str = "zh-CN") -> str:
        """What is wrong, for staff and the technician."""
        d = self.detail
        if language == "en":
            return {
                "below_floor": f"the clock ({str(d.get('now', ''))[:16]}) is earlier than "
                f"the last record ({str(d.get('floor', ''))[:16]})",
                "beacon_disagrees": f"the clock differs from the county's time by "
                f"{d.get('offset_s', 0):+.0f} s",
                "unsynced": f"the clock has not been synchronised for "
                f"{d.get('unsynced_min', 0):.0f} min and there is no RTC",
            }.get(self.code, self.code)
        return {
            "below_floor": f"本机时间（{str(d.get('now', ''))[:16]}）早于最后一条记录"
            f"（{str(d.get('floor', ''))[:16]}）",
            "beacon_disagrees": f"本机时间与县里时间相差{d.get('offset_s', 0):+.0f}秒",
            "unsynced": f"本机已{d.get('unsynced_min', 0):.0f}分钟未对时，且没有时钟模块",
        }.get(self.code, self.code)

    def message(self, language: str = "zh-CN") -> str:
        """The plain message, then why; nothing was issued."""
        if language == "en":
            return f"{PLAIN_EN} ({self.why('en')}; no certificate was issued)"
        return f"{PLAIN_ZH}（{self.why()}，本次没有开证）"


class TimeTrust:
    """The floor file, the beacon the agent accepted, and the verdict; one per process.

    Several processes share the file (the UI, the agent, CLI commands): every
    read-modify-write holds an exclusive ``flock`` on ``time-floor.json.lock``."""

    def __init__(
        self,
        data_dir: Path,
        source: TimeSource,
        settings: TimeSettings = TimeSettings(),
        *,
        store: Store | None = None,
    ) -> None:
        self.path = data_dir / FLOOR_FILE
        self.source = source
        self.settings = settings
        self.store = store
        self._status: tuple[float, ClockStatus] | None = None
        self._confirmed_mono = float("-inf")

    # ---- the file ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as error:
            # A torn file must not stop the kiosk forever; the audit log still floors it.
            log.error("time floor file %s unreadable (%s); starting it again", self.path, error)
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.state()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                body = json.dumps(state, sort_keys=True, ensure_ascii=False).encode("utf-8")
                atomic_write(self.path, body, mode=PRIVATE)
        finally:
            os.close(lock)

    def floor(self) -> datetime | None:
        """The newest trustworthy time this kiosk has seen: the later of the database's
        floor and the floor file's."""
        return _later(self._file_floor(), self._db_floor())

    def _file_floor(self) -> datetime | None:
        return _time(self.state().get("floor"))

    def _db_floor(self) -> datetime | None:
        if self.store is None:
            return None
        us = self.store.counter(DB_FLOOR)
        if us <= 0:
            return None
        return datetime.fromtimestamp(us // 1_000_000, CST) + timedelta(microseconds=us % 1_000_000)

    def _absorb_audit(self, now: datetime) -> None:
        """At a trusted moment, raise the floor to the newest audit entries that are not
        in the future. Entries a wrong clock wrote (a refusal's own row, minutes ahead or
        days behind) never count: an untrusted moment absorbs nothing, and a time after
        a trusted now is evidently wrong."""
        if self.store is None:
            return
        rows = self.store.conn.execute(
            "SELECT at FROM audit_log ORDER BY seq DESC LIMIT ?", [AUDIT_WINDOW]
        ).fetchall()
        limit = now + timedelta(seconds=FLOOR_SLACK_S)
        times = [t for t in (_time(r[0]) for r in rows) if t is not None and t <= limit]
        newest = max(times) if times else None
        current = self._file_floor()
        if newest is not None and (current is None or newest > current):
            self._raise_file(newest, FILE_FLOOR_STEP_S)  # the entries stay in the database

    def raise_floor(self, at: datetime) -> None:
        """Never lower; called in a certificate's transaction, before it commits.

        In the store's open transaction the database floor rides that transaction's
        commit. The file is rewritten whenever ``at`` is later, exactly, not by a step:
        it is the floor that survives an older database put back, and with a step the
        restored kiosk could date a certificate a minute before one it had already
        issued (tests/test_time_floor_attacks.py). Certificates are dated to the
        minute, so this is one rewrite per minute of issuing, not one per certificate."""
        if self.store is not None and self.store.conn.in_transaction:
            us = round(at.timestamp() * 1_000_000)
            self.store.conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                [DB_FLOOR, us],
            )
        self._raise_file(at, 0)

    def _raise_file(self, at: datetime, step_s: float) -> None:
        current = self._file_floor()
        if current is not None and at <= current + timedelta(seconds=step_s):
            return
        with self._locked() as state:
            current = _time(state.get("floor"))
            if current is None or at > current:
                state["floor"] = at.isoformat()

    # ---- the beacon ----------------------------------------------------------------------

    def accept_beacon(self, beacon: TimeBeacon, *, live: bool) -> bool:
        """Keep a verified beacon newer than every one seen; False for a replay.

        ``live``: delivered as it was published (not the broker's retained copy)."""
        boot_id, uptime = self.source.boot()
        with self._locked() as state:
            newest = _time(state.get("beacon_newest"))
            if newest is not None and beacon.issued_at <= newest:
                return False
            state["beacon_newest"] = beacon.issued_at.isoformat()
            state["beacon"] = {
                "issued_at": beacon.issued_at.isoformat(),
                "interval_s": beacon.interval_s,
                "boot_id": boot_id,
                "uptime": uptime,
                "live": live,
            }
            floor = _time(state.get("floor"))
            if floor is None or beacon.issued_at > floor:
                state["floor"] = beacon.issued_at.isoformat()
        return True

    # ---- the verdict ---------------------------------------------------------------------

    def clock_status(self) -> ClockStatus:
        now = time.monotonic()
        if self._status is None or now - self._status[0] > STATUS_TTL_S:
            self._status = (now, self.source.status())
        return self._status[1]

    def assess(self, now: datetime) -> TimeVerdict:
        state = self.state()
        floor = self.floor()
        if floor is not None and now < floor - timedelta(seconds=FLOOR_SLACK_S):
            shown = floor.astimezone(now.tzinfo)
            return TimeVerdict(
                False, "below_floor", "floor", {"now": now.isoformat(), "floor": shown.isoformat()}
            )
        boot_id, uptime = self.source.boot()
        tolerance = self.settings.beacon_tolerance_s
        beacon = state.get("beacon")
        vouched = False
        if isinstance(beacon, dict) and beacon.get("boot_id") == boot_id:
            issued = _time(beacon.get("issued_at"))
            if issued is not None:
                county_now = issued + timedelta(seconds=uptime - float(beacon["uptime"]))
                offset = (now - county_now).total_seconds()
                live = bool(beacon.get("live"))
                if offset < -tolerance or (live and offset > tolerance):
                    return TimeVerdict(
                        False, "beacon_disagrees", "beacon",
                        {"now": now.isoformat(), "county": county_now.isoformat(),
                         "offset_s": round(offset, 1), "live": live},
                    )  # fmt: skip
                vouched = live
        status = self.clock_status()
        if status.synchronized or vouched:
            self._confirm(boot_id, uptime)
            self._absorb_audit(now)
            return TimeVerdict(True, "ok", status.source if status.synchronized else "beacon")
        if status.rtc:
            self._absorb_audit(now)
            return TimeVerdict(True, "ok", "rtc")
        confirmed = state.get("confirmed")
        since = uptime
        if isinstance(confirmed, dict) and confirmed.get("boot_id") == boot_id:
            since = uptime - float(confirmed.get("uptime", 0.0))
        if since > self.settings.max_unsynced_min * 60:
            return TimeVerdict(
                False, "unsynced", status.source,
                {"unsynced_min": round(since / 60, 1), "synchronized": status.synchronized},
            )  # fmt: skip
        self._absorb_audit(now)
        return TimeVerdict(True, "ok", "unsynced-grace", {"unsynced_min": round(since / 60, 1)})

    def _confirm(self, boot_id: str, uptime: float) -> None:
        """Remember that the clock was confirmed in this boot (bounded writes)."""
        now = time.monotonic()
        if now - self._confirmed_mono < CONFIRM_EVERY_S:
            return
        self._confirmed_mono = now
        with self._locked() as state:
            state["confirmed"] = {"boot_id": boot_id, "uptime": uptime}


def report(verdict: TimeVerdict, store: Store, alarms: Alarms, audit: AuditLog) -> None:
    """Alarm ``clock`` (critical) and an audit row once per episode; cleared when trusted."""
    if verdict.trusted:
        if alarms.is_open("clock"):
            with store.transaction():
                if alarms.clear("clock"):
                    audit.append("clock.trusted", {"source": verdict.source})
        return
    detail = {"code": verdict.code, "source": verdict.source, **verdict.detail}
    with store.transaction():
        if alarms.raise_("clock", "critical", verdict.why(), detail):
            audit.append("clock.untrusted", detail)
            log.error("clock not trusted, issuing stopped: %s", verdict.why("en"))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def open_time_trust(
    data_dir: Path,
    sync: str,
    *,
    rtc: bool,
    rtc_device: Path = RTC_DIR,
    settings: TimeSettings,
    store: Store | None = None,
) -> TimeTrust:
    """The configured source (``[time] sync``) over ``data_dir``."""
    source: TimeSource
    if sync == "simulated":
        source = SimulatedTimeSource(data_dir / SIM_FILE)
    else:
        source = SystemTimeSource(sync, rtc_expected=rtc, rtc_dir=rtc_device)
    return TimeTrust(data_dir, source, settings, store=store)
