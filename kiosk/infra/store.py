"""The kiosk's SQLite store: one file, WAL, synchronous=FULL, versioned migrations.

Every component opens its own connection (SQLite connections are not shared
across threads); writers take the lock up front with ``BEGIN IMMEDIATE`` so a
busy database waits instead of failing half-way through a transaction.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

#: How long a writer waits for another connection's transaction before giving up.
BUSY_TIMEOUT_S = 10.0

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(RuntimeError):
    """The database cannot be used (corrupt, newer than this software, disk trouble)."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in kiosk/infra/migrations, in order."""
    found = []
    for entry in resources.files("kiosk.infra.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations are not numbered 1..n without gaps: {versions}")
    return found


#: The database holds producers' names, phones and PIN hashes: owner only. SQLite gives
#: its -wal and -shm files the database file's own mode.
DATABASE_MODE = 0o600


def _make_private(path: Path) -> None:
    """Create the database file 0600 (whatever the umask) before SQLite opens it, and
    tighten one an older version left readable to others."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, DATABASE_MODE)
    except OSError as error:
        raise StoreError(f"cannot open {path} (a symlink?): {error}") from None
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & 0o777 != DATABASE_MODE:
            os.fchmod(fd, DATABASE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        try:
            if side.stat().st_uid == os.geteuid():
                os.chmod(side, DATABASE_MODE)
        except FileNotFoundError:
            pass


class Store:
    """An open kiosk database. Use as a context manager or call ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._before_commit: dict[object, Callable[[], None]] = {}
        self._in_transaction = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(self.path)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a certificate acknowledged to the farmer survives a pulled power cord.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            self._savepoints = itertools.count(1)
            self._closed = False
            self._migrate()
        except sqlite3.DatabaseError as error:
            conn.close()
            if isinstance(error, sqlite3.OperationalError):
                raise  # locked, busy: a fault of the moment, not of the file
            raise StoreError(
                f"database {self.path} is damaged ({error}): restore the latest backup "
                "(kiosk backup list, kiosk backup restore FILE)"
            ) from None
        except BaseException:
            conn.close()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        available = migrations()
        if current > len(available):
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this "
                f"software ({len(available)}); refusing to touch it"
            )
        for version, name, sql in available[current:]:
            log.info("applying migration %s", name)
            with self.transaction():
                for statement in _split_sql(sql):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls become savepoints of the outer one."""
        if self.conn.in_transaction:
            with self._savepoint():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
            # Still under the write lock, before the commit: a floor file written here
            # is never behind the database (kiosk/infra/numbering.py).
            for callback in list(self._before_commit.values()):
                callback()
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._before_commit.clear()
            self._in_transaction = False

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A nested transaction (plain SQL: sqlite_utils cost ~0.1 s of every start)."""
        name = f"nested_{next(self._savepoints)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            # An error that destroyed the whole transaction took the savepoint with it.
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.conn.execute(f"RELEASE SAVEPOINT {name}")

    def before_commit(self, key: object, callback: Callable[[], None]) -> bool:
        """Run ``callback`` once just before the open ``transaction()`` commits (once per
        ``key``, the latest callback wins); False when no ``transaction()`` is open, and
        the caller must act at once."""
        if not self._in_transaction:
            return False
        self._before_commit[key] = callback
        return True

    def integrity_check(self, *, quick: bool = False) -> list[str]:
        """Problems SQLite finds in the file; an empty list means healthy.

        ``quick`` skips the index cross-checks (linear in the file size; the composition
        root runs it once per boot); backups use the full check.
        """
        pragma = "quick_check" if quick else "integrity_check"
        rows = [r[0] for r in self.conn.execute(f"PRAGMA {pragma}")]
        return [] if rows == ["ok"] else rows

    def counter(self, name: str) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", [name]).fetchone()
        return row[0] if row else 0

    def advance_counter(self, name: str, at_least: int = 0) -> int:
        """Next value of a monotonic counter; call inside ``transaction()``."""
        if not self.conn.in_transaction:
            raise StoreError("advance_counter() outside a transaction")
        value = max(self.counter(name), at_least) + 1
        self.conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [name, value],
        )
        return value

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(sql: str) -> list[str]:
    """Statements of a migration file, split where SQLite says a statement is complete
    (so triggers, whose bodies hold semicolons, stay whole)."""
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        if not pending and (not line.strip() or line.strip().startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise StoreError(f"migration ends inside a statement: {pending.strip()[:60]!r}")
    return statements
