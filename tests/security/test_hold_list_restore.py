"""A county store restored from an older backup must not silence the kiosks (red-team
finding on the county-wide holds). Kiosks refuse a hold list that is not newer than the
one they hold; the list's version was a plain counter in the store, so after a restore
it counted again from the backup's value and every later hold was refused as "not
newer". Real Mosquitto, real county SQLite, a real kiosk listener."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)
from support.provisioning import COUNTY_KEY, enrolled_config, headless_listener
from support.uplink import wait_until
from support.web import County

from station import holds as county_holds
from station.web.store import transaction
from wire.clock import china_time
from wire.mqtt import BrokerSettings


def _hold(county: County, phone: str, at) -> None:
    with transaction(county.db):
        county_holds.place_hold(
            county.db, "330100", identifiers=[f"phone:{phone}"], product_code="V001",
            reason="监督抽检不合格", source="officer", placed_by="officer-1", now=at,
        )  # fmt: skip


def test_a_restored_county_store_still_reaches_the_kiosks(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory()
    config = enrolled_config(tmp_path / "kiosk", uplink={"host": "127.0.0.1", "port": broker.port})
    listener, kiosk_store = headless_listener(config)
    url = tmp_path / "county.db"
    county = County(str(url))
    backup = tmp_path / "county-backup.db"
    with sqlite3.connect(url) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # the county's nightly backup, before any list was published
    now = [china_time()]

    def publisher() -> county_holds.HoldPublisher:
        return county_holds.HoldPublisher(
            str(url), "330100", COUNTY_KEY,
            BrokerSettings("127.0.0.1", broker.port, client_id="county-330100-holds"),
            lambda: now[0],
        )  # fmt: skip

    def applied() -> int:
        row = kiosk_store.conn.execute("SELECT version FROM county_hold_list").fetchone()
        return row[0] if row else 0

    first = publisher()
    try:
        listener.start()
        assert listener.wait_connected(10)
        _hold(county, "13812345678", now[0])
        v1 = first.sync_once()
        wait_until(lambda: applied() == v1, 10, "the first list at the kiosk")
    finally:
        first.stop()
    county.close()
    # The county's disk fails; the store comes back from last night's backup.
    with sqlite3.connect(backup) as old, sqlite3.connect(url) as live:
        old.backup(live)
    county = County(str(url))
    now[0] += timedelta(seconds=5)
    _hold(county, "13900000002", now[0])
    second = publisher()
    try:
        v2 = second.sync_once()
        assert v2 is not None and v2 > v1
        wait_until(lambda: applied() == v2, 10, "the list after the restore at the kiosk")
    finally:
        second.stop()
        listener.stop()
        county.close()
