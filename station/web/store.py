"""Database connections for the web service: a small pool, and write transactions.

Each request handler borrows one ``station.db.Database`` (opened once, reused), on a
worker thread: the event loop never waits on the disk or the network to PostgreSQL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from station.db import SQLITE, Database


class Pool:
    """Up to ``size`` open stores; ``with pool.connection() as db`` borrows one."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._idle: queue.LifoQueue[Database] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self._all: list[Database] = []
        # Open (and migrate) one at once, so a bad URL fails at start, not on a request.
        self._idle.put(self._open())

    def _open(self) -> Database:
        db = Database(self.url)
        with self._lock:
            self._opened += 1
            self._all.append(db)
        return db

    @contextmanager
    def connection(self) -> Iterator[Database]:
        try:
            db = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                can_open = self._opened < self.size
                if can_open:
                    self._opened += 1  # reserve the slot before the slow open
            if can_open:
                with self._lock:
                    self._opened -= 1
                db = self._open()
            else:
                db = self._idle.get()
        try:
            yield db
        except BaseException:
            _reset(db)
            raise
        finally:
            self._idle.put(db)

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()


def _reset(db: Database) -> None:
    """Leave no transaction open on a connection going back to the pool."""
    try:
        if db.dialect is SQLITE:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
        else:
            db.conn.rollback()
    except Exception:  # a broken connection stays broken; the next use reports it
        pass


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
    if db.dialect is SQLITE:
        db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        _reset(db)
        raise
    if db.dialect is SQLITE:
        db.conn.execute("COMMIT")
    else:
        db.conn.commit()


def insert_returning_id(db: Database, sql: str, params: list[Any]) -> int:
    """Run an INSERT (``... RETURNING id`` appended) and return the new row's id."""
    row = db.execute(sql + " RETURNING id", params).fetchone()
    return int(row[0])
