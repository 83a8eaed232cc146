"""Staff and technician PINs: scrypt-hashed, rate-limited, with a lock-out that survives restarts.

A PIN is four to eight digits typed on a touchscreen in a public room, so the number
of guesses is what protects it, not its length: after ``max_failures`` wrong PINs the
subject is locked for ``lockout``, and the count lives in SQLite (``pin_attempts``)
so that pulling the power cord does not buy another round of guesses. The same
limiter guards producers' PINs (subject ``producer:<id>``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiosk.infra.store import Store

log = logging.getLogger(__name__)

ROLES = ("staff", "technician")
_PIN = re.compile(r"^\d{4,8}$")
#: scrypt cost: ~50 ms on a desktop, ~200 ms on a Pi 4, 16 MiB of memory.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT = timedelta(minutes=10)


class PinError(ValueError):
    """A PIN that may not be set (too short, not digits); ``message`` is plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LockedOut(Exception):
    """Too many wrong PINs: no check is made until ``until``."""

    def __init__(self, subject: str, until: datetime) -> None:
        super().__init__(f"{subject} locked until {until.isoformat()}")
        self.subject = subject
        self.until = until


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash``: parameters travel with the hash so they can be raised."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of ``pin`` against a ``hash_pin`` string; False for a bad record."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(bytes.fromhex(digest)),
        )  # fmt: skip
    except (ValueError, TypeError):
        log.error("unreadable PIN hash record")
        return False
    return hmac.compare_digest(computed, bytes.fromhex(digest))


def check_pin_format(pin: str) -> str:
    pin = (pin or "").strip()
    if not _PIN.match(pin):
        raise PinError("密码须为4到8位数字")
    return pin


@dataclass(frozen=True)
class AttemptState:
    failures: int
    locked_until: datetime | None


class AttemptLimiter:
    """Counts wrong PINs per subject in the database; locks after too many."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: timedelta = DEFAULT_LOCKOUT,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_failures = max_failures
        self.lockout = lockout

    def state(self, subject: str) -> AttemptState:
        row = self.store.conn.execute(
            "SELECT failures, locked_until FROM pin_attempts WHERE subject = ?", [subject]
        ).fetchone()
        if row is None:
            return AttemptState(0, None)
        until = datetime.fromisoformat(row[1]) if row[1] else None
        return AttemptState(row[0], until)

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
                current = AttemptState(0, None)  # the lock-out served its time
            failures = current.failures + 1
            until = now + self.lockout if failures >= self.max_failures else None
            self.store.conn.execute(
                "INSERT INTO pin_attempts (subject, failures, first_failure, locked_until) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET "
                "failures = excluded.failures, locked_until = excluded.locked_until",
                [subject, failures, now.isoformat(), until.isoformat() if until else None],
            )
        if until:
            log.warning("%s locked after %d wrong PINs until %s", subject, failures, until)
        return AttemptState(failures, until)

    def succeeded(self, subject: str) -> None:
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM pin_attempts WHERE subject = ?", [subject])

    def remaining(self, subject: str) -> int:
        return max(0, self.max_failures - self.state(subject).failures)


class StaffAuth:
    """Who may open staff mode and technician mode: one PIN per role."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout: timedelta = DEFAULT_LOCKOUT,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = AttemptLimiter(store, clock, max_failures=max_failures, lockout=lockout)

    def has_pin(self, role: str) -> bool:
        return self._stored(role) is not None

    def set_pin(self, role: str, pin: str) -> None:
        if role not in ROLES:
            raise PinError(f"unknown role {role!r}")
        pin = check_pin_format(pin)
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO staff_credentials (role, pin_hash, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (role) DO UPDATE SET pin_hash = excluded.pin_hash, "
                "updated_at = excluded.updated_at",
                [role, hash_pin(pin), self.clock().isoformat()],
            )
        log.info("%s PIN changed", role)

    def check(self, role: str, pin: str) -> bool:
        """True for the right PIN. Raises ``LockedOut`` while locked (the PIN is not tried)."""
        self.limiter.ensure_unlocked(role)
        stored = self._stored(role)
        if stored is not None and verify_pin(pin, stored):
            self.limiter.succeeded(role)
            return True
        state = self.limiter.failed(role)
        if state.locked_until is not None:
            raise LockedOut(role, state.locked_until)
        return False

    def _stored(self, role: str) -> str | None:
        row = self.store.conn.execute(
            "SELECT pin_hash FROM staff_credentials WHERE role = ?", [role]
        ).fetchone()
        return row[0] if row else None
