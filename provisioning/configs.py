"""Signed configuration bundles: verify, apply atomically, health-check, roll back.

A bundle is ``wire.documents`` document whose body is
``{"type": "agriqs.config", "county", "target", "version", "issued_at", "settings"}``
(wire/schemas/provisioning/config.bundle.json). It is refused, with the reason audited, when the
signature is not the county's, it is addressed elsewhere, its version is not above
the applied one, it touches identity keys, or the resulting config fails the schema.

Applying (power cut anywhere leaves the old or the new file, never a mix):

1. ``managed.json.previous`` <- copy of ``managed.json`` (tmp, fsync, rename);
2. ``pending.json`` names the version being tried (fsync);
3. ``managed.json.tmp`` written and fsynced, renamed over ``managed.json``, dir fsynced;
4. health check on what is now on disk; pass: drop ``pending.json``; fail: rename
   ``previous`` back and record ``rolled_back``.

``recover()`` runs when the agent starts: a ``pending.json`` left by a kill during
3-4 means the new file was never proven healthy, so the previous one is put back (the
retained bundle is then redelivered and tried again).

A bundle that changes how the kiosk reaches the county (uplink host, port, TLS files,
account) must prove it: the files exist and load (CA bundle, client certificate and
key, password file) and a real MQTT connection with the new settings gets its CONNACK
(``uplink_connects``), else it is rolled back on the spot. It then stays on probation
(``probation.json``) until the agent has connected with it after a restart: an agent
that starts with settings whose files no longer load, or that cannot connect within
``PROBATION_S``, puts the previous file back by itself (``check_after_start``,
``end_probation``), so a reboot cannot leave the kiosk cut off either.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.printer.profiles import get_profile
from kiosk.config import (
    MANAGED_FILE,
    ConfigError,
    KioskConfig,
    compose,
    config_dir,
    protected_keys_in,
    read_layer,
    startup_problem,
)
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.infra.uplink import AgentConfigError, uplink_settings
from wire import mqtt
from wire.documents import SignatureError, open_document
from wire.files import PRIVATE, atomic_write, fsync_dir
from wire.provisioning import CONFIG_TYPE
from wire.signing import decode_public_key

log = logging.getLogger(__name__)

PENDING_FILE = "pending.json"
PROBATION_FILE = "probation.json"
PREVIOUS_SUFFIX = ".previous"
#: How long the new uplink settings have to get a CONNACK during the health check.
CONNECT_CHECK_S = 10.0
#: After a restart, how long the agent gives new uplink settings to connect before it
#: puts the previous ones back.
PROBATION_S = 600.0

#: A health check returns None when fine, else the reason it failed.
HealthCheck = Callable[[KioskConfig], str | None]


class ConfigRefused(Exception):
    """The bundle was not applied; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ApplyResult:
    version: int
    status: str  # "applied" | "rolled_back"
    reason: str = ""


def uplink_files_problem(config: KioskConfig) -> str | None:
    """The files ``[uplink]`` names exist and load (None when they do)."""
    up = config.uplink
    for key, path in (("tls_ca", up.tls_ca), ("tls_cert", up.tls_cert),
                      ("tls_key", up.tls_key), ("password_file", up.password_file)):  # fmt: skip
        if path is not None and not path.is_file():
            return f"uplink.{key}: file not found: {path}"  # it would cut off the county
    if up.tls_ca is not None or up.tls_cert is not None:
        try:
            context = ssl.create_default_context(cafile=str(up.tls_ca) if up.tls_ca else None)
            if up.tls_cert is not None:
                context.load_cert_chain(str(up.tls_cert), str(up.tls_key) if up.tls_key else None)
        except (ssl.SSLError, OSError, ValueError) as error:
            return f"uplink TLS files do not load: {error}"
    try:
        uplink_settings(config)
    except AgentConfigError as error:
        return str(error)
    return None


def connection_settings(config: KioskConfig) -> tuple[Any, ...]:
    """What decides whether the kiosk reaches the county at all."""
    up = config.uplink
    return (up.host, up.port, up.tls_ca, up.tls_cert, up.tls_key, up.username, up.password_file)


def uplink_connects(config: KioskConfig) -> str | None:
    """A real MQTT connection with ``config``'s uplink gets its CONNACK (None), else why.

    A client id of its own (``{county}-{device}-health``, allowed to the kiosk's
    account) and a clean session, so neither running connection is disturbed."""
    problem = uplink_files_problem(config)
    if problem:
        return problem
    settings = uplink_settings(config)
    broker = mqtt.BrokerSettings(
        host=settings.host, port=settings.port, username=settings.username,
        password=settings.password, tls=settings.tls, prefix=settings.topic_prefix,
        client_id=f"{config.device.county}-{config.device.device_id}-health",
    )  # fmt: skip
    try:
        client = mqtt.connect(broker, timeout=CONNECT_CHECK_S)
    except (mqtt.BrokerError, OSError, ValueError, ssl.SSLError) as error:
        return f"uplink: {error}"
    mqtt.close(client)
    return None


def default_health_check(config: KioskConfig) -> str | None:
    """Can the kiosk run with this? Database, printer profile, uplink, anchors, disk."""
    try:
        with Store(config.paths.database) as store:
            problems = store.integrity_check()
            if problems:
                return f"database integrity: {problems[0]}"
    except Exception as error:  # any failure to open is a failed check
        return f"database: {error}"
    try:
        get_profile(config.printer.profile)
    except (KeyError, ValueError) as error:
        return f"printer.profile: {error}"
    problem = startup_problem(config)  # what would stop the kiosk from issuing
    if problem:
        return problem
    problem = uplink_files_problem(config)
    if problem:
        return problem
    for anchor in config.certificate.trust_anchors:
        try:
            decode_public_key(anchor)
        except ValueError as error:
            return f"certificate.trust_anchors: {error}"
    free_mb = shutil.disk_usage(config.paths.data_dir).free // (1024 * 1024)
    if free_mb < config.paths.min_free_mb:
        return f"paths.min_free_mb: only {free_mb} MB free"
    return None


class ConfigManager:
    """Applies bundles for one kiosk. ``base`` is the installed config (layer 1)."""

    def __init__(
        self,
        base: KioskConfig,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], datetime],
        *,
        health_checks: tuple[HealthCheck, ...] = (default_health_check,),
        connect_check: HealthCheck = uplink_connects,
    ) -> None:
        self.base = base
        self.store = store
        self.audit = audit
        self.clock = clock
        self.health_checks = health_checks
        #: Run when a bundle changes the uplink's connection settings.
        self.connect_check = connect_check
        self.folder = config_dir(base.paths.data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / MANAGED_FILE
        self.previous = self.folder / (MANAGED_FILE + PREVIOUS_SUFFIX)
        self.pending = self.folder / PENDING_FILE
        self.probation = self.folder / PROBATION_FILE

    # ---- state -----------------------------------------------------------------------

    def applied_version(self) -> int:
        layer = read_layer(self.path)
        return int(layer.get("version", 0)) if layer else 0

    def identity(self) -> dict[str, Any] | None:
        return read_layer(self.folder / "identity.json")

    def effective(self) -> KioskConfig:
        layer = read_layer(self.path) or {}
        return compose(self.base, layer.get("settings"), self.identity())

    def anchors(self) -> list[bytes]:
        return [decode_public_key(a) for a in self.effective().certificate.trust_anchors]

    # ---- applying --------------------------------------------------------------------

    def apply_document(self, document: Any) -> ApplyResult:
        """Verify and apply a signed bundle; ConfigRefused (audited) when it is not used."""
        try:
            body = self._check(document)
        except ConfigRefused as refusal:
            self._record(None, "refused", refusal.message, code=refusal.code)
            raise
        version = int(body["version"])
        return self._apply(version, body["settings"])

    def _check(self, document: Any) -> dict[str, Any]:
        anchors = self.anchors()
        if not anchors:
            raise ConfigRefused("no_anchors", "this kiosk has no county trust anchors yet")
        try:
            body = open_document(document, anchors)
        except SignatureError as error:
            raise ConfigRefused("signature", str(error)) from None
        if body.get("type") != CONFIG_TYPE:
            raise ConfigRefused("type", f"not a config bundle (type {body.get('type')!r})")
        me = self.effective().device
        if body.get("county") != me.county:
            raise ConfigRefused("addressee", f"bundle is for county {body.get('county')}")
        target = body.get("target")
        if not isinstance(target, dict) or not _targets(target, me.device_id, me.township):
            raise ConfigRefused("addressee", f"bundle target {target} is not this kiosk")
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigRefused("schema", f"version must be a positive integer: {version!r}")
        current = self.applied_version()
        if version <= current:
            raise ConfigRefused("version", f"version {version} is not newer than {current}")
        if self._rolled_back(version):
            raise ConfigRefused("version", f"version {version} already failed its health check")
        settings = body.get("settings")
        if not isinstance(settings, dict):
            raise ConfigRefused("schema", "settings must be an object")
        protected = protected_keys_in(settings)
        if protected:
            raise ConfigRefused("protected", f"bundle may not set {', '.join(protected)}")
        try:
            compose(self.base, settings, self.identity())
        except ConfigError as error:
            raise ConfigRefused("schema", str(error)) from None
        return body

    def _apply(self, version: int, settings: dict[str, Any]) -> ApplyResult:
        try:
            before: tuple[Any, ...] | None = connection_settings(self.effective())
        except ConfigError:
            before = None
        old = read_layer(self.path)
        old_version = int(old.get("version", 0)) if old else 0
        if self.path.exists():
            atomic_write(self.previous, self.path.read_bytes(), mode=PRIVATE)
        else:
            self.previous.unlink(missing_ok=True)
        atomic_write(
            self.pending,
            json.dumps({"version": version, "from": old_version}).encode(),
            mode=PRIVATE,
        )
        text = json.dumps({"version": version, "settings": settings}, ensure_ascii=False, indent=1)
        atomic_write(self.path, text.encode("utf-8"), mode=PRIVATE)
        reason = self._health(before)
        if reason is None:
            if before != connection_settings(self.effective()):
                payload = json.dumps({"version": version}).encode()
                atomic_write(self.probation, payload, mode=PRIVATE)
            self.pending.unlink(missing_ok=True)
            self._record(version, "applied", "")
            log.info("config version %d applied", version)
            return ApplyResult(version, "applied")
        self._restore()
        self._record(version, "rolled_back", reason)
        log.error("config version %d failed its health check (%s); rolled back", version, reason)
        return ApplyResult(version, "rolled_back", reason)

    def _health(self, before: tuple[Any, ...] | None = None) -> str | None:
        try:
            config = self.effective()  # re-read from disk: what the UI will load
        except ConfigError as error:
            return f"schema: {error}"
        for check in self.health_checks:
            reason = check(config)
            if reason:
                return reason
        if before is not None and connection_settings(config) == before:
            return None  # how the kiosk reaches the county did not change
        return self.connect_check(config)

    # ---- after a restart ---------------------------------------------------------------

    def on_probation(self) -> int | None:
        """The applied version whose uplink settings have not yet connected after a start."""
        layer = read_layer(self.probation) if self.probation.exists() else None
        return int(layer.get("version", 0)) if layer else None

    def check_after_start(self) -> int | None:
        """At agent start: settings whose uplink files no longer load are rolled back
        to the previous file (returns the version rolled back)."""
        try:
            problem = uplink_files_problem(self.effective())
        except ConfigError as error:
            problem = f"schema: {error}"
        if problem is None:
            return None
        return self._roll_back_applied(f"after a restart: {problem}")

    def end_probation(self, connected: bool) -> int | None:
        """The agent connected (probation over) or gave up (roll back); returns the
        version rolled back, if any."""
        if self.on_probation() is None:
            return None
        if connected:
            self.probation.unlink(missing_ok=True)
            return None
        return self._roll_back_applied(
            f"after a restart: no connection to the county within {PROBATION_S:g} s"
        )

    def _roll_back_applied(self, reason: str) -> int | None:
        version = self.applied_version()
        if version == 0:
            log.error("the installed config cannot run (%s); no county bundle to undo", reason)
            return None
        if self.previous.exists():
            os.replace(self.previous, self.path)
        else:
            self.path.unlink()  # the first bundle: back to the installed file alone
        fsync_dir(self.folder)
        self.probation.unlink(missing_ok=True)
        self._record(version, "rolled_back", reason)
        log.error("config version %d rolled back: %s", version, reason)
        return version

    def _restore(self) -> None:
        if self.previous.exists():
            os.replace(self.previous, self.path)
        else:
            self.path.unlink(missing_ok=True)
        fsync_dir(self.folder)
        self.pending.unlink(missing_ok=True)

    def recover(self) -> int | None:
        """Undo an apply a kill interrupted; returns the version rolled back, if any."""
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
        pending = read_layer(self.pending) if self.pending.exists() else None
        if pending is None:
            self.pending.unlink(missing_ok=True)
            return None
        version = int(pending.get("version", 0))
        self._restore()
        self._record(version, "rolled_back", "interrupted before its health check passed")
        return version

    def _rolled_back(self, version: int) -> bool:
        row = self.store.conn.execute(
            "SELECT status FROM config_history WHERE version = ?", [version]
        ).fetchone()
        return bool(row) and row[0] == "rolled_back"

    def _record(self, version: int | None, status: str, reason: str, code: str = "") -> None:
        kind = {"applied": "config.applied", "rolled_back": "config.rolled_back"}.get(
            status, "config.refused"
        )
        alarms = self._alarms() if status in ("applied", "rolled_back") else None
        with self.store.transaction():
            if version is not None:
                self.store.conn.execute(
                    "INSERT INTO config_history (version, status, reason, at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (version) DO UPDATE SET status = excluded.status, "
                    "reason = excluded.reason, at = excluded.at",
                    [version, status, reason, self.clock().isoformat()],
                )
            self.audit.append(kind, {"version": version, "reason": reason, "code": code})
            if alarms is not None and status == "rolled_back":
                alarms.raise_(
                    "config_rolled_back", "warning",
                    f"配置版本{version}未通过检查，已恢复之前的配置：{reason[:200]}",
                    {"version": version, "reason": reason[:900]}, subject=str(version),
                )  # fmt: skip
            elif alarms is not None:
                for alarm in alarms.open():
                    if alarm.code == "config_rolled_back":
                        alarms.clear("config_rolled_back", subject=alarm.subject)

    def _alarms(self) -> Alarms | None:
        """The county hears of a rollback as alarm ``config_rolled_back`` (cleared when a
        later version applies); None before the kiosk has an identity to send it under."""
        try:
            device = self.effective().device
        except ConfigError:
            return None
        return Alarms(self.store, Outbox(self.store, device.county, device.device_id,
                                         self.clock), self.clock)  # fmt: skip


def _targets(target: dict[str, Any], device: str, township: str) -> bool:
    if not target:
        return True  # the whole county
    if "device" in target:
        return target["device"] == device
    if "township" in target:
        return target["township"] == township
    return False
