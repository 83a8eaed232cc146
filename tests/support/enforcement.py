"""Fixtures of the enforcement tests: the county store and its web service on SQLite
and on PostgreSQL (the deployment's store), so every query runs on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.web import Clock, County, WebServer, web_config

STORES = ["sqlite", "postgresql"]


def _url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "county.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=STORES)
def county_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A county store URL: a SQLite file, or a fresh PostgreSQL schema."""
    return _url(request, tmp_path)


@pytest.fixture(params=STORES)
def county_web_any(
    request: pytest.FixtureRequest, tmp_path
) -> Iterator[tuple[County, WebServer, Clock]]:
    """``county_web`` on SQLite and on PostgreSQL."""
    url = _url(request, tmp_path)
    county = County(url)
    clock = Clock()
    server = WebServer(web_config(tmp_path, url), clock).start()
    try:
        yield county, server, clock
    finally:
        server.stop()
        county.close()
