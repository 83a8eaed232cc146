"""The county store's schema: numbered migrations on SQLite and PostgreSQL, applied once
even when county processes start together, and a newer store refused."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from station.db import Database
from station.migrate import SchemaError, migrations


def versions(db: Database) -> list[int]:
    return [r[0] for r in db.query("SELECT version FROM schema_migrations ORDER BY version")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_store_gets_every_migration_once(backend: str, tmp_path: Path, request) -> None:
    url = str(tmp_path / "county.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    shipped = [v for v, _, _ in migrations()]
    with Database(url) as db:
        assert versions(db) == shipped
        assert db.query("SELECT count(*) FROM devices")[0][0] == 0
    with Database(url) as db:  # opening again applies nothing
        assert versions(db) == shipped


def test_processes_starting_together_migrate_once_on_postgresql(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Database(pg_url).close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Database(pg_url) as db:
        assert versions(db) == [v for v, _, _ in migrations()]


def test_a_store_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    for _version, _name, sql in migrations()[:2]:
        old.executescript(sql.format(autoinc_pk="INTEGER PRIMARY KEY", blob="BLOB"))
    old.execute(
        "INSERT INTO devices VALUES ('330100', 'K001', '示范镇', '服务点', '2026-01-01T00:00:00Z')"
    )
    old.commit()
    old.close()
    with Database(path) as db:
        assert db.query("SELECT device_id FROM devices") == [("K001",)]
        assert versions(db) == [v for v, _, _ in migrations()]


def test_a_store_newer_than_the_software_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "county.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="newer than this software"):
        Database(path)


def test_a_cli_write_on_postgresql_is_kept_when_the_block_ends(pg_url: str, capsys) -> None:
    """`station devices enroll-code --db postgresql://…` lost its code: the connection
    closed without a commit."""
    from station.cli import main

    code = main(["devices", "enroll-code", "--county", "330100", "--township", "示范镇",
                 "--db", pg_url])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with Database(pg_url) as db:
        assert db.query("SELECT count(*) FROM enroll_codes")[0][0] == 1
