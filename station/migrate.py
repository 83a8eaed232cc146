"""The county store's schema, in numbered migrations (``station/migrations/NNNN_*.sql``).

One list for SQLite (development) and PostgreSQL (deployment): ``{autoinc_pk}``,
``{blob}`` and ``{kg}`` (a certificate's kilograms) are filled per dialect. Each
migration runs once, in its own transaction, and is recorded in ``schema_migrations``;
several county processes (collector, enrollment service, web) may start together, so
the runner holds a lock while it looks and applies (PostgreSQL: an advisory lock;
SQLite: BEGIN IMMEDIATE). A store newer than this software is refused rather than
misread.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from station.db import Database

log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The store cannot be used by this software (newer, or a migration failed)."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped, in order, numbered 1..n."""
    found = []
    for entry in resources.files("station.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name[:4]), name[5:-4], entry.read_text("utf-8")))
    found.sort()
    if [v for v, _, _ in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations are not numbered 1..n: {[v for v, _, _ in found]}")
    return found


def migrate(db: Database) -> int:
    """Bring the store up to date; returns the schema version."""
    shipped = migrations()
    db.lock_schema()
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        row = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
        current = int(row[0] or 0)
        if current > len(shipped):
            raise SchemaError(
                f"the county store is at schema {current}, newer than this software "
                f"({len(shipped)}): upgrade the station software"
            )
        for version, name, sql in shipped[current:]:
            ddl = sql.format(**sql_params(db))
            for statement in statements(ddl):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                [version, name, db.now()],
            )
            log.info("county store migrated to %04d %s", version, name)
        db.unlock_schema(commit=True)
    except BaseException:
        db.unlock_schema(commit=False)
        raise
    return len(shipped)


def sql_params(db: Database) -> dict[str, str]:
    """What a migration's ``{name}`` fields stand for on this store's dialect."""
    from station.rollups import kg_expr

    return {"autoinc_pk": db.dialect.autoinc_pk, "blob": db.dialect.blob, "kg": kg_expr(db)}


def statements(ddl: str) -> list[str]:
    """Statements split on ';' outside of comments (migrations hold no string literals
    with semicolons)."""
    lines = [line for line in ddl.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
