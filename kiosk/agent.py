"""``kiosk agent``: the process that talks to the county while the UI serves farmers.

It runs the uplink (outbox → MQTT) and, as they land, the provisioning agent's
duties. It is a process of its own (docs/deploy.md) so that a UI crash never stops
events reaching the county, and a broker outage never stalls the screen.
"""

from __future__ import annotations

import importlib.metadata
import logging
import signal
import threading

from kiosk.config import KioskConfig
from kiosk.uplink import TlsSettings, Uplink, UplinkSettings, Versions
from kiosk.watchdog import Watchdog

log = logging.getLogger(__name__)

#: How often the agent loop wakes to feed the watchdog (WatchdogSec=60s in the unit).
LOOP_INTERVAL_S = 5.0


class AgentConfigError(ValueError):
    pass


def software_version() -> str:
    try:
        return importlib.metadata.version("agriqs-kiosk")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def uplink_settings(config: KioskConfig) -> UplinkSettings:
    up = config.uplink
    password = None
    if up.password_file is not None:
        try:
            password = up.password_file.read_text("utf-8").strip()
        except OSError as error:
            raise AgentConfigError(f"uplink.password_file: {error}") from None
    tls = TlsSettings(up.tls_ca, up.tls_cert, up.tls_key) if up.tls_ca or up.tls_cert else None
    return UplinkSettings(
        host=up.host,
        port=up.port,
        tls=tls,
        username=up.username,
        password=password,
        topic_prefix=up.topic_prefix,
        keepalive_s=up.keepalive_s,
        session_expiry_s=up.session_expiry_s,
        inflight_window=up.inflight_window,
        backlog_alarm_threshold=up.backlog_alarm_threshold,
        retention_days=up.retention_days,
        poll_interval_s=up.poll_interval_s,
    )


def open_uplink(config: KioskConfig, config_version: str = "0") -> Uplink:
    return Uplink(
        uplink_settings(config),
        config.paths.database,
        config.device.county,
        config.device.device_id,
        versions=Versions(software_version(), config_version),
    )


def run_agent(config: KioskConfig, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); feeds the systemd watchdog."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    dog = Watchdog()
    with open_uplink(config) as uplink:  # entering starts it
        dog.ready(status="uplink started")
        while not stop.wait(LOOP_INTERVAL_S):
            stats = uplink.stats()
            dog.ping()
            dog.status(f"{'connected' if stats.connected else 'offline'}; acked {stats.acked}")
        dog.stopping()
    return 0
