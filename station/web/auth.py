"""Accounts, roles, password hashes, CSRF tokens and the audit log of the web service.

Passwords are hashed with argon2id (memory-hard: a stolen table costs an attacker
64 MiB per guess); the hash carries its own parameters, so raising the cost later
re-hashes each password at its owner's next login.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from station.db import Database
from station.web.store import insert_returning_id, transaction


class Role(StrEnum):
    # County staff
    VIEWER = "viewer"  # reads the dashboard
    OFFICER = "officer"  # + acknowledges alarms, exports
    ADMIN = "admin"  # + manages accounts and markets
    # Market accounts: see and record only their own market
    INSPECTOR = "inspector"  # check-ins, desk mode, 无证反馈, the market's statistics
    BUYER = "buyer"  # records the certificates of what they buy


COUNTY_ROLES = frozenset({Role.VIEWER, Role.OFFICER, Role.ADMIN})
MARKET_ROLES = frozenset({Role.INSPECTOR, Role.BUYER})
#: Roles that may press 登记查验 on the scan page.
CHECKIN_ROLES = frozenset({Role.INSPECTOR, Role.BUYER})
OFFICER_UP = frozenset({Role.OFFICER, Role.ADMIN})

ROLE_NAMES = {
    Role.VIEWER: "查看员",
    Role.OFFICER: "监管员",
    Role.ADMIN: "管理员",
    Role.INSPECTOR: "市场查验员",
    Role.BUYER: "采购商",
}

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """An account cannot be made or changed; the message says why."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    market_id: int | None
    market_name: str | None
    disabled: bool

    @property
    def county_staff(self) -> bool:
        return self.role in COUNTY_ROLES


def hasher(memory_kib: int = 64 * 1024, time_cost: int = 3, parallelism: int = 1) -> PasswordHasher:
    return PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_ACCOUNT_SQL = (
    "SELECT a.id, a.username, a.display_name, a.role, a.market_id, m.name, a.disabled "
    "FROM accounts a LEFT JOIN markets m ON m.id = a.market_id "
)


def _account(row: tuple[Any, ...]) -> Account:
    return Account(int(row[0]), row[1], row[2], Role(row[3]), row[4], row[5], bool(row[6]))


def get_account(db: Database, account_id: int) -> Account | None:
    rows = db.query(_ACCOUNT_SQL + "WHERE a.id = ?", [account_id])
    return _account(rows[0]) if rows else None


def list_accounts(db: Database) -> list[Account]:
    return [_account(r) for r in db.query(_ACCOUNT_SQL + "ORDER BY a.role, a.username")]


def add_market(db: Database, county: str, name: str, township: str) -> int:
    if not name.strip():
        raise AccountError("市场名称不能为空")
    if db.query("SELECT 1 FROM markets WHERE county = ? AND name = ?", [county, name]):
        raise AccountError(f"市场“{name}”已存在")
    with transaction(db):
        return insert_returning_id(
            db,
            "INSERT INTO markets (county, name, township, created_at) VALUES (?, ?, ?, ?)",
            [county, name, township, _now()],
        )


def markets(db: Database) -> list[tuple[int, str, str, str]]:
    """(id, county, name, township) of every market."""
    return [
        (int(r[0]), r[1], r[2], r[3])
        for r in db.query("SELECT id, county, name, township FROM markets ORDER BY name")
    ]


def add_account(
    db: Database,
    ph: PasswordHasher,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    market_id: int | None = None,
) -> int:
    """A new account; market roles need a market, county roles must not have one."""
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise AccountError("用户名须为 1–64 个可见字符，不含空格")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if role in MARKET_ROLES and market_id is None:
        raise AccountError("市场账号须指定所属市场")
    if role in COUNTY_ROLES and market_id is not None:
        raise AccountError("县级账号不属于任何市场")
    if market_id is not None and not db.query("SELECT 1 FROM markets WHERE id = ?", [market_id]):
        raise AccountError(f"没有编号为 {market_id} 的市场")
    if db.query("SELECT 1 FROM accounts WHERE username = ?", [username]):
        raise AccountError(f"用户名“{username}”已被使用")
    with transaction(db):
        return insert_returning_id(
            db,
            "INSERT INTO accounts (username, display_name, role, market_id, password_hash, "
            "disabled, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            [username, display_name or username, role.value, market_id, ph.hash(password),
             _now()],
        )  # fmt: skip


def set_password(db: Database, ph: PasswordHasher, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    with transaction(db):
        cur = db.execute(
            "UPDATE accounts SET password_hash = ? WHERE username = ?",
            [ph.hash(password), username],
        )
        if cur.rowcount != 1:
            raise AccountError(f"没有用户“{username}”")


def set_disabled(db: Database, username: str, disabled: bool) -> None:
    with transaction(db):
        cur = db.execute(
            "UPDATE accounts SET disabled = ? WHERE username = ?", [int(disabled), username]
        )
        if cur.rowcount != 1:
            raise AccountError(f"没有用户“{username}”")


#: A hash to verify against when the user does not exist, so that the answer takes as
#: long for an unknown name as for a wrong password (no user enumeration by timing).
_DUMMY_PASSWORD = "not-a-password-" + secrets.token_hex(8)


class Authenticator:
    def __init__(self, ph: PasswordHasher) -> None:
        self.ph = ph
        self._dummy = ph.hash(_DUMMY_PASSWORD)

    def check(self, db: Database, username: str, password: str) -> Account | None:
        """The account when the password matches and the account is enabled."""
        rows = db.query(
            "SELECT id, password_hash, disabled FROM accounts WHERE username = ?", [username]
        )
        if not rows:
            self._verify(self._dummy, password)
            return None
        account_id, stored, disabled = rows[0]
        if not self._verify(stored, password) or disabled:
            return None
        if self.ph.check_needs_rehash(stored):
            with transaction(db):
                db.execute(
                    "UPDATE accounts SET password_hash = ? WHERE id = ?",
                    [self.ph.hash(password), account_id],
                )
        return get_account(db, int(account_id))

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.ph.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


# ---- CSRF -------------------------------------------------------------------------


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# ---- audit ------------------------------------------------------------------------


def audit_row(db: Database, username: str, action: str, target: str, **detail: Any) -> None:
    """Record an officer's action inside the caller's transaction (with what it records)."""
    db.execute(
        "INSERT INTO web_audit (at, username, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [_now(), username, action, target, json.dumps(detail, ensure_ascii=False)],
    )


def audit(db: Database, username: str, action: str, target: str, **detail: Any) -> None:
    """Record an action that wrote nothing else (a login, an export), in its own commit."""
    with transaction(db):
        audit_row(db, username, action, target, **detail)


def audit_entries(db: Database, limit: int = 200) -> list[tuple[Any, ...]]:
    return db.query(
        "SELECT at, username, action, target, detail FROM web_audit ORDER BY id DESC LIMIT ?",
        [limit],
    )
