"""End to end: a certificate issued at the kiosk reaches the county database, once,
through the `kiosk agent` process, a real Mosquitto and the county collector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from support.kiosk import configured, request
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import collector_settings, wait_until

from app.compose import open_kiosk
from station.collector import Collector
from station.db import Database


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [paths]
            data_dir = "data"

            [uplink]
            host = "127.0.0.1"
            port = {port}
            poll_interval_s = 0.2
            """
        ),
        "utf-8",
    )
    return path


def test_issued_certificate_reaches_the_county_once(tmp_path: Path, broker_factory) -> None:  # noqa: F811
    broker = broker_factory(extra_config="max_queued_messages 2000000")
    config_path = write_config(tmp_path, broker.port)
    county_db = tmp_path / "county.db"
    with Collector(collector_settings(broker.port), county_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        with open_kiosk(configured(tmp_path / "data")) as kiosk:
            numbers = [kiosk.issuance.issue(request()).certificate.number for _ in range(3)]
        agent = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--config", str(config_path), "agent"],
            env={**os.environ, "NOTIFY_SOCKET": ""},
        )
        try:
            database = Database(county_db)
            # 3 x (issued + printed) events, plus the retained online state.
            wait_until(lambda: database.count_events() >= 6, 20, "events stored at the county")
            stored = database.query("SELECT schema_name, body FROM events ORDER BY seq")
            issued = [b for s, b in stored if s == "certificate.issued"]
            assert len(issued) == 3
            assert all(n in "".join(issued) for n in numbers)
            # A second certificate after the agent is up arrives too (polled from the UI's writes).
            with open_kiosk(configured(tmp_path / "data")) as kiosk:
                kiosk.issuance.issue(request())
            wait_until(lambda: database.count_events() >= 8, 20, "the later certificate")
            assert database.count_events() == 8
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=15) == 0
            database.close()
