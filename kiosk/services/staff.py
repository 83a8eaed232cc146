"""Staff and technician accounts: one per person, scrypt-hashed PINs, escalating lock-out.

A result, a hold or a login must name a person, so there is no shared role PIN: each
member of staff and each technician has an account (a name and a PIN of 6 to 12 ASCII
digits). The PIN is typed on a touchscreen in a public room, so the number of guesses
is what protects it: after ``max_failures`` wrong PINs the account is locked, each
further lock-out lasts ``factor`` times longer (up to ``longest``), and the counts live
in SQLite (``pin_attempts``) so that pulling the power cord does not buy another round.
A lock-out raises alarm ``login_lockout`` (sent to the county); every login, logout
and failure is written to the audit chain. The same limiter guards producers' PINs
(subject ``producer:<phone>``).

scrypt cost: N=2**14, r=10, p=1 (20 MiB): what a Raspberry Pi 4 spends in about
250 ms (the earlier N=2**14, r=8 was ~50 ms on the development machine and an estimated
~200 ms on a Pi 4, which is 3-4x slower; r=10 costs 1.25x that: ~60 ms here, an
estimated 0.2-0.3 s there). The touch UI checks PINs on a worker thread, never on its
loop. The parameters travel inside each hash, so a hash made with weaker ones still
verifies and is re-hashed at the next successful login.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiosk.domain.validation import InputError, check_text
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store

log = logging.getLogger(__name__)

ROLES = ("staff", "technician")
#: Which roles open which mode: a technician may also do staff work.
MODES = {"staff": ("staff", "technician"), "technician": ("technician",)}
#: ASCII digits only: ``\\d`` would also take Arabic-Indic and full-width digits.
_STAFF_PIN = re.compile(r"^[0-9]{6,12}$")
_PRODUCER_PIN = re.compile(r"^[0-9]{4,8}$")
MAX_NAME_CHARS = 16
#: scrypt cost (see the module docstring for the measured figures).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 10, 1
#: Parameters accepted from a stored hash: a doctored record cannot make a check take
#: minutes or gigabytes.
_MAX_N, _MAX_R, _MAX_P = 2**18, 16, 4
DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT = timedelta(minutes=10)
DEFAULT_FACTOR = 3
DEFAULT_LONGEST = timedelta(hours=24)
LOCKOUT_ALARM = "login_lockout"


class PinError(ValueError):
    """A PIN or account that may not be set; ``message`` is plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LockedOut(Exception):
    """Too many wrong PINs: no check is made until ``until``."""

    def __init__(self, subject: str, until: datetime) -> None:
        super().__init__(f"{subject} locked until {until.isoformat()}")
        self.subject = subject
        self.until = until


class LoginRefused(Exception):
    """A wrong PIN, an unknown or disabled account, or a role that may not open the mode;
    ``left`` is how many tries remain before the lock-out."""

    def __init__(self, message: str, left: int) -> None:
        super().__init__(message)
        self.left = left


def _maxmem(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2) + 2 * 1024 * 1024


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash``: parameters travel with the hash so they can be raised."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32,
        maxmem=_maxmem(SCRYPT_N, SCRYPT_R, SCRYPT_P),
    )  # fmt: skip
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of ``pin`` against a ``hash_pin`` string; False for a bad record."""
    try:
        scheme, n_text, r_text, p_text, salt, digest = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        if scheme != "scrypt" or not (2 <= n <= _MAX_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
            return False
        computed = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=n, r=r, p=p,
            dklen=len(bytes.fromhex(digest)), maxmem=_maxmem(n, r, p),
        )  # fmt: skip
    except (ValueError, TypeError):
        log.error("unreadable PIN hash record")
        return False
    return hmac.compare_digest(computed, bytes.fromhex(digest))


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with a lower cost than today's."""
    try:
        _, n, r, p, _, _ = stored.split("$")
        return (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


def check_pin_format(pin: str) -> str:
    """A producer's PIN: 4 to 8 ASCII digits (farmers may also use a card alone)."""
    pin = (pin or "").strip()
    if not _PRODUCER_PIN.match(pin):
        raise PinError("密码须为4到8位数字")
    return pin


def check_staff_pin(pin: str) -> str:
    """A staff or technician PIN: 6 to 12 ASCII digits, not one digit repeated nor a run."""
    pin = (pin or "").strip()
    if not _STAFF_PIN.match(pin):
        raise PinError("工作人员密码须为6到12位数字")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        raise PinError("密码太简单（重复或连续的数字），请换一个")
    return pin


@dataclass(frozen=True)
class AttemptState:
    failures: int
    locked_until: datetime | None
    #: How many lock-outs this subject has served since its last success.
    lockouts: int = 0


class AttemptLimiter:
    """Counts wrong PINs per subject in the database; locks after too many, each
    lock-out ``factor`` times longer than the one before (up to ``longest``)."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: timedelta = DEFAULT_LOCKOUT,
        factor: int = DEFAULT_FACTOR,
        longest: timedelta = DEFAULT_LONGEST,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_failures = max_failures
        self.lockout = lockout
        self.factor = factor
        self.longest = longest

    def duration(self, lockouts_before: int) -> timedelta:
        """How long the next lock-out lasts after ``lockouts_before`` earlier ones."""
        return min(self.lockout * self.factor ** min(lockouts_before, 20), self.longest)

    def state(self, subject: str) -> AttemptState:
        row = self.store.conn.execute(
            "SELECT failures, locked_until, lockouts FROM pin_attempts WHERE subject = ?",
            [subject],
        ).fetchone()
        if row is None:
            return AttemptState(0, None)
        until = datetime.fromisoformat(row[1]) if row[1] else None
        return AttemptState(row[0], until, row[2])

    def ensure_unlocked(self, subject: str) -> None:
        until = self.state(subject).locked_until
        if until is not None and self.clock() < until:
            raise LockedOut(subject, until)

    def failed(self, subject: str) -> AttemptState:
        """Record a wrong PIN; the returned state says whether the subject is now locked."""
        now = self.clock()
        with self.store.transaction():
            current = self.state(subject)
            if current.locked_until is not None and now >= current.locked_until:
                # The lock-out served its time; the next one will be longer.
                current = AttemptState(0, None, current.lockouts)
            failures = current.failures + 1
            lockouts = current.lockouts
            until = None
            if failures >= self.max_failures:
                until = now + self.duration(lockouts)
                lockouts += 1
            self.store.conn.execute(
                "INSERT INTO pin_attempts (subject, failures, first_failure, locked_until, "
                "lockouts) VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET "
                "failures = excluded.failures, locked_until = excluded.locked_until, "
                "lockouts = excluded.lockouts",
                [subject, failures, now.isoformat(), until.isoformat() if until else None,
                 lockouts],
            )  # fmt: skip
        if until:
            log.warning(
                "%s locked after %d wrong PINs until %s (lock-out %d)",
                subject, failures, until, lockouts,
            )  # fmt: skip
        return AttemptState(failures, until, lockouts)

    def succeeded(self, subject: str) -> None:
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM pin_attempts WHERE subject = ?", [subject])

    def remaining(self, subject: str) -> int:
        return max(0, self.max_failures - self.state(subject).failures)


@dataclass(frozen=True)
class StaffMember:
    """A person who may open staff or technician mode; ``name`` is what records carry."""

    account_id: int
    name: str
    role: str
    active: bool
    source: str

    @property
    def subject(self) -> str:
        return f"staff:{self.account_id}"


class StaffAuth:
    """Per-person accounts, their PINs and every login, in the audit chain."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        audit: AuditLog,
        alarms: Alarms,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: timedelta = DEFAULT_LOCKOUT,
        factor: int = DEFAULT_FACTOR,
        longest: timedelta = DEFAULT_LONGEST,
    ) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit
        self.alarms = alarms
        self.limiter = AttemptLimiter(
            store, clock, max_failures=max_failures, lockout=lockout, factor=factor,
            longest=longest,
        )  # fmt: skip

    # -- accounts ------------------------------------------------------------------

    def add(self, name: str, role: str, pin: str, *, by: str, source: str = "cli") -> StaffMember:
        """A new account; the name must be unique on this kiosk."""
        if role not in ROLES:
            raise PinError(f"unknown role {role!r}")
        name = _check_name(name)
        pin_hash = hash_pin(check_staff_pin(pin))
        now = self.clock().isoformat()
        try:
            with self.store.transaction():
                self.store.conn.execute(
                    "INSERT INTO staff_accounts (name, role, pin_hash, source, active, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                    [name, role, pin_hash, source, now, now],
                )
                self.audit.append(
                    "staff.added", {"name": name, "role": role, "by": by, "source": source}
                )
        except sqlite3.IntegrityError:
            raise PinError(f"已有名为{name}的账号") from None
        log.info("%s account added for %s by %s", role, name, by)
        return self._require(name)

    def set_pin(self, name: str, pin: str, *, by: str) -> None:
        member = self._require(name)
        pin_hash = hash_pin(check_staff_pin(pin))
        with self.store.transaction():
            self._store_hash(member, pin_hash)
            self.audit.append("pin.changed", {"name": member.name, "role": member.role, "by": by})
        self.limiter.succeeded(member.subject)
        log.info("PIN of %s changed by %s", member.name, by)

    def set_active(self, name: str, active: bool, *, by: str) -> None:
        member = self._require(name)
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE staff_accounts SET active = ?, updated_at = ? WHERE account_id = ?",
                [int(active), self.clock().isoformat(), member.account_id],
            )
            kind = "staff.enabled" if active else "staff.disabled"
            self.audit.append(kind, {"name": member.name, "role": member.role, "by": by})

    def members(self, mode: str | None = None, *, active_only: bool = True) -> list[StaffMember]:
        """Accounts that may open ``mode`` (every account when None), by name."""
        roles = MODES[mode] if mode else ROLES
        sql = (
            "SELECT account_id, name, role, active, source FROM staff_accounts "
            f"WHERE role IN ({','.join('?' * len(roles))})"
        )
        if active_only:
            sql += " AND active = 1"
        rows = self.store.conn.execute(sql + " ORDER BY name", list(roles)).fetchall()
        return [StaffMember(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def member(self, name: str) -> StaffMember | None:
        row = self.store.conn.execute(
            "SELECT account_id, name, role, active, source FROM staff_accounts WHERE name = ?",
            [name],
        ).fetchone()
        return None if row is None else StaffMember(row[0], row[1], row[2], bool(row[3]), row[4])

    def has_accounts(self, mode: str) -> bool:
        return bool(self.members(mode))

    # -- logging in ----------------------------------------------------------------

    def login(self, name: str, pin: str, mode: str) -> StaffMember:
        """The member for the right PIN; ``LockedOut`` while locked (the PIN is not
        tried), ``LoginRefused`` otherwise. Every outcome is audited."""
        member = self.member(name)
        if member is None or not member.active or member.role not in MODES[mode]:
            # Not an account that may open this mode: audited, nothing to count against.
            self.audit.append("login.failed", {"name": name, "mode": mode, "reason": "no_account"})
            raise LoginRefused("no_account", 0)
        try:
            self.limiter.ensure_unlocked(member.subject)
        except LockedOut as locked:
            self.audit.append(
                "login.failed",
                {"name": member.name, "mode": mode, "reason": "locked",
                 "until": locked.until.isoformat()},
            )  # fmt: skip
            raise
        stored = self._stored_hash(member)
        if verify_pin(pin, stored):
            self._succeeded(member, mode, stored, pin)
            return member
        state = self.limiter.failed(member.subject)
        with self.store.transaction():
            detail = {"name": member.name, "mode": mode, "reason": "wrong_pin",
                      "failures": state.failures}  # fmt: skip
            if state.locked_until is not None:
                detail.update(until=state.locked_until.isoformat(), lockouts=state.lockouts)
            self.audit.append("login.failed", detail)
            if state.locked_until is not None:
                self.alarms.raise_(
                    LOCKOUT_ALARM,
                    "critical" if state.lockouts > 1 else "warning",
                    f"{member.name}的密码连续输错{state.failures}次，账号锁定到"
                    f"{state.locked_until:%H:%M}（第{state.lockouts}次）",
                    {"name": member.name, "role": member.role, "mode": mode,
                     "failures": state.failures, "lockouts": state.lockouts,
                     "until": state.locked_until.isoformat()},
                    subject=f"{member.subject}:{state.lockouts}",
                )  # fmt: skip
        if state.locked_until is not None:
            raise LockedOut(member.subject, state.locked_until)
        raise LoginRefused("wrong_pin", self.limiter.max_failures - state.failures)

    def logout(self, member: StaffMember, mode: str) -> None:
        self.audit.append("logout", {"name": member.name, "mode": mode})

    def remaining(self, name: str) -> int:
        member = self.member(name)
        return 0 if member is None else self.limiter.remaining(member.subject)

    # -- inside --------------------------------------------------------------------

    def _succeeded(self, member: StaffMember, mode: str, stored: str, pin: str) -> None:
        fresh = hash_pin(pin) if needs_rehash(stored) else None
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM pin_attempts WHERE subject = ?", [member.subject])
            if fresh is not None:
                self._store_hash(member, fresh)
            self.audit.append("login", {"name": member.name, "role": member.role, "mode": mode})
            for alarm in self.alarms.open():
                if alarm.code == LOCKOUT_ALARM and alarm.subject.startswith(member.subject + ":"):
                    self.alarms.clear(LOCKOUT_ALARM, subject=alarm.subject)
        log.info("%s logged in to %s mode", member.name, mode)

    def _store_hash(self, member: StaffMember, pin_hash: str) -> None:
        self.store.conn.execute(
            "UPDATE staff_accounts SET pin_hash = ?, updated_at = ? WHERE account_id = ?",
            [pin_hash, self.clock().isoformat(), member.account_id],
        )

    def _stored_hash(self, member: StaffMember) -> str:
        row = self.store.conn.execute(
            "SELECT pin_hash FROM staff_accounts WHERE account_id = ?", [member.account_id]
        ).fetchone()
        return str(row[0]) if row else ""

    def _require(self, name: str) -> StaffMember:
        member = self.member(name)
        if member is None:
            raise PinError(f"没有名为{name}的账号")
        return member


def _check_name(name: str) -> str:
    try:
        return check_text(name, "name", "姓名", 2, MAX_NAME_CHARS)
    except InputError as error:
        raise PinError(error.message) from None
