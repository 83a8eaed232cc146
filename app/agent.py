"""The agent process (``kiosk agent``): uplink to the county, and provisioning duties.

Composed here, above kiosk/, because provisioning's command handlers call kiosk
services; app/cli.py finds ``run`` through the ``agriqs.agents`` entry point.

Two MQTT connections under the kiosk's one account: the uplink (outbox -> county,
``kiosk/infra/uplink.py``) and the provisioning listener (cmd/, cfg, trust;
``provisioning/listener.py``). When a config bundle is applied the uplink is rebuilt
from the new effective config, so its birth message reports the new version (and a
changed broker address or keepalive takes effect). Hardware commands are relayed to
the UI process through the database (``provisioning/hardware.py``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.compose import time_trust
from kiosk.config import IDENTITY_FILE, KioskConfig, config_dir, effective_config
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from kiosk.infra.uplink import open_uplink, software_version
from kiosk.infra.watchdog import Watchdog
from provisioning.commands import release_ready_update
from provisioning.configs import PROBATION_S, ConfigManager
from provisioning.enroll import check_client_certificate
from provisioning.hardware import Hardware, HardwareRelay
from provisioning.listener import ProvisioningListener
from wire.clock import china_time
from wire.files import hold_lock

log = logging.getLogger(__name__)

#: Held (flock) while the agent runs; holds its pid.
AGENT_LOCK_FILE = "agent.lock"
#: Exit status asking systemd (Restart=always) to start the agent again: a remote
#: ``restart what=agent``.
EXIT_RESTART = 75
#: The agent's own log file, for the ``logs`` command: bounded so a chatty fault
#: cannot fill the SD card.
LOG_FILE_BYTES = 1024 * 1024
LOG_FILE_COUNT = 3
#: The loop wakes this often: to pick up an applied config within a second, and to
#: feed the watchdog (WatchdogSec=60s in the unit) far more often than needed.
WAKE_S = 0.5
#: How often the TLS client certificate's expiry is looked at.
CERT_CHECK_S = 3600.0


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files are 0640 whatever the umask: they name producers and staff."""

    def _open(self) -> Any:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.baseFilename, flags, 0o640)
        os.fchmod(fd, 0o640)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def _log_to_file(config: KioskConfig) -> logging.Handler:
    folder = config.paths.data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    handler = PrivateRotatingFileHandler(
        folder / "agent.log", maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_COUNT
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    return handler


def run(
    config: KioskConfig,
    stop: threading.Event | None = None,
    *,
    hardware: Callable[[Store], Hardware] = HardwareRelay,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``); returns EXIT_RESTART when asked to restart."""
    # One agent per data directory: two would both pump the outbox and both answer
    # the county, and each would be disconnected by the other's login (LockHeld).
    lock = hold_lock(config.paths.data_dir / AGENT_LOCK_FILE, "kiosk agent")
    try:
        return _run_locked(config, stop, hardware)
    finally:
        os.close(lock)


def _run_locked(
    config: KioskConfig, stop: threading.Event | None, hardware: Callable[[Store], Hardware]
) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    handler = _log_to_file(config)
    try:
        return _run(config, stop, hardware)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run(config: KioskConfig, stop: threading.Event, hardware: Callable[[Store], Hardware]) -> int:
    if not (config_dir(config.paths.data_dir) / IDENTITY_FILE).exists():
        log.warning("this kiosk is not enrolled yet: run `kiosk enroll CODE`")
    # The main thread's store (the listener's threads open their own): the config
    # manager records rollbacks after a restart in it.
    store = Store(config.paths.database)
    manager = ConfigManager(config, store, AuditLog(store, china_time), china_time)
    rolled = manager.recover()
    if rolled:
        log.warning("config version %d was interrupted before its check; rolled back", rolled)
    rolled = manager.check_after_start()
    if rolled:
        log.error("config version %d cannot reach the county; rolled back", rolled)
    restart = threading.Event()
    changed = threading.Event()

    def versions() -> dict[str, Any]:
        return {"software": software_version(), "config": manager.applied_version()}

    def asked_restart() -> None:
        restart.set()
        stop.set()

    listener = ProvisioningListener(
        manager,
        hardware,
        china_time,
        versions=versions,
        on_config=lambda _v: changed.set(),
        restart_agent=asked_restart,
        time_trust=lambda store: time_trust(effective_config(config), store),
    )
    dog = Watchdog()
    uplink = open_uplink(effective_config(config), str(manager.applied_version()))
    uplink.start()
    listener.start()
    #: New uplink settings must connect within this after a start, or they are undone.
    probation_until = time.monotonic() + PROBATION_S if manager.on_probation() else None
    next_cert_check = 0.0
    try:
        dog.ready(status="uplink and provisioning started")
        while not stop.wait(WAKE_S):
            if probation_until is not None:
                if uplink.stats().connected:
                    manager.end_probation(connected=True)
                    probation_until = None
                elif time.monotonic() > probation_until:
                    probation_until = None
                    if manager.end_probation(connected=False):
                        changed.set()  # reconnect with the settings put back
            if changed.is_set():
                changed.clear()
                log.info(
                    "config changed: restarting the uplink with version %s",
                    manager.applied_version(),
                )
                uplink.close()
                uplink = open_uplink(effective_config(config), str(manager.applied_version()))
                uplink.start()
            if time.monotonic() >= next_cert_check:
                next_cert_check = time.monotonic() + CERT_CHECK_S
                try:
                    check_client_certificate(config, store, datetime.now(UTC))
                except Exception:  # a certificate check must never stop the uplink
                    log.exception("client certificate check failed")
            try:
                release_ready_update(effective_config(config), manager.audit)
            except OSError as error:
                log.error("software update not handed over: %s", error)
            stats = uplink.stats()
            dog.ping()
            dog.status(f"{'connected' if stats.connected else 'offline'}; acked {stats.acked}")
        dog.stopping()
    finally:
        listener.stop()
        uplink.close()
        store.close()
    return EXIT_RESTART if restart.is_set() else 0
