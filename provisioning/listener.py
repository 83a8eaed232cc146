"""The agent's provisioning connection: commands, config bundles, the trust list.

A second MQTT connection beside the uplink's (same account, its own client id
``{county}-{device}-prov``): the uplink's pump is tuned for draining the outbox and
must not wait behind a firmware flash, and a separate persistent session lets the
broker queue commands for an offline kiosk without mixing them into the event flow.
paho's network thread only queues messages; one worker thread, owning its own SQLite
connection, handles them in arrival order and publishes the replies (MQTT v5
ResponseTopic + CorrelationData).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiosk.config import KioskConfig
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.infra.timetrust import TimeTrust, report
from kiosk.infra.uplink import uplink_settings
from kiosk.services.county_holds import CountyHolds
from kiosk.services.holds import HoldRegistry
from provisioning.commands import CommandService
from provisioning.configs import ConfigManager, ConfigRefused
from provisioning.hardware import Hardware
from wire.files import PUBLIC, atomic_write
from wire.holds import HoldListError, parse_hold_list
from wire.mqtt import Client, Message, ReasonCode, async_client, close, publish_properties
from wire.timebeacon import TimeBeaconError, parse_time_beacon
from wire.topics import command_topic, config_topic, holds_topic, time_topic, trust_topic
from wire.trust import TrustListError, parse_trust_list

log = logging.getLogger(__name__)

#: Subscriptions at QoS 1: a command or bundle sent while the kiosk was away waits in
#: its broker session (persistent_client_expiration bounds it on the broker side).
QOS = 1
#: How long a stop waits for the worker to finish the message it is on.
STOP_TIMEOUT_S = 10.0
TRUST_FILE = "trust.json"


@dataclass
class ListenerStats:
    connected: bool = False
    handled: int = 0
    hold_lists: int = 0
    beacons: int = 0


class ProvisioningListener:
    """``start()``/``stop()``; ``on_config`` is called after a bundle was applied.

    ``hardware`` makes the hardware access for the worker's own store connection
    (``HardwareRelay`` on a kiosk with a UI, ``lambda _: HardwareDirect(...)`` headless).
    """

    def __init__(
        self,
        manager: ConfigManager,
        hardware: Callable[[Store], Hardware],
        clock: Callable[[], datetime],
        *,
        versions: Callable[[], dict[str, Any]],
        on_config: Callable[[int], None] | None = None,
        restart_agent: Callable[[], None] | None = None,
        time_trust: Callable[[Store], TimeTrust] | None = None,
    ) -> None:
        self.manager = manager
        self.config: KioskConfig = manager.effective()
        self.hardware = hardware
        self.clock = clock
        self.versions = versions
        self.on_config = on_config
        self.restart_agent = restart_agent
        #: Makes the clock's judge over the worker's store (app/compose.time_trust).
        self.time_trust = time_trust
        self._judge: TimeTrust | None = None
        self._alarms: Alarms | None = None
        device = self.config.device
        self.county, self.device = device.county, device.device_id
        self.prefix = self.config.uplink.topic_prefix
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._client: Client | None = None
        self._worker: threading.Thread | None = None
        self._connected = threading.Event()
        self._county_holds: CountyHolds | None = None  # made by the worker, on its store
        self.stats = ListenerStats()

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        client = async_client(
            uplink_settings(self.config).broker(f"{self.county}-{self.device}-prov"),
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_message=lambda _c, _u, msg: self._queue.put(msg),
        )
        self._client = client
        self._worker = threading.Thread(target=self._run, name="provisioning", daemon=True)
        self._worker.start()
        client.loop_start()

    def stop(self) -> None:
        client, worker = self._client, self._worker
        if client is None or worker is None:
            return
        self._queue.put(None)
        worker.join(STOP_TIMEOUT_S)
        close(client)
        self._client = self._worker = None

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def __enter__(self) -> ProvisioningListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(self, client: Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.error("provisioning connection refused: %s", rc)
            return
        client.subscribe(
            [
                (command_topic(self.prefix, self.county, self.device, "+"), QOS),
                (config_topic(self.prefix, self.county, self.device), QOS),
                (trust_topic(self.prefix, self.county), QOS),
                (holds_topic(self.prefix, self.county), QOS),
                # QoS 0: never queued in the session while the kiosk is away, so a
                # beacon delivered without the retain flag is live (TimeTrust).
                (time_topic(self.prefix, self.county), 0),
            ]
        )
        self.stats.connected = True
        self._connected.set()

    def _on_disconnect(self, *_a: Any) -> None:
        self.stats.connected = False
        self._connected.clear()

    # ---- worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        with Store(self.config.paths.database) as store:
            manager = ConfigManager(
                self.manager.base,
                store,
                AuditLog(store, self.clock),
                self.clock,
                health_checks=self.manager.health_checks,
                connect_check=self.manager.connect_check,
            )
            commands = CommandService(
                self.config,
                store,
                self.hardware(store),
                self.clock,
                anchors=manager.anchors,
                versions=self.versions,
                restart_agent=self.restart_agent,
            )
            audit = AuditLog(store, self.clock)
            outbox = Outbox(store, self.county, self.device, self.clock)
            local = HoldRegistry(store, outbox, audit, self.clock)
            self._county_holds = CountyHolds(store, audit, self.clock, self.device, local)
            self._alarms = Alarms(store, outbox, self.clock)
            if self.time_trust is not None:
                self._judge = self.time_trust(store)
            while True:
                msg = self._queue.get()
                if msg is None:
                    return
                try:
                    self._dispatch(msg, manager, commands)
                except Exception:  # one bad message must not stop the listener
                    log.exception("provisioning message on %s failed", msg.topic)
                self.stats.handled += 1

    def _dispatch(self, msg: Message, manager: ConfigManager, commands: CommandService) -> None:
        if not msg.payload:
            return  # a cleared retained message
        topic = msg.topic
        payload = bytes(msg.payload)
        if topic == config_topic(self.prefix, self.county, self.device):
            self._config(payload, manager)
        elif topic == trust_topic(self.prefix, self.county):
            self._trust(payload, manager)
        elif topic == holds_topic(self.prefix, self.county):
            self._holds(payload, manager)
        elif topic == time_topic(self.prefix, self.county):
            self._beacon(payload, manager, live=not getattr(msg, "retain", False))
        elif "/cmd/" in topic:
            name = topic.rsplit("/", 1)[1]
            props = getattr(msg, "properties", None)
            response_topic = getattr(props, "ResponseTopic", None) if props else None
            correlation = getattr(props, "CorrelationData", None) if props else None
            reply = commands.handle(name, payload, response_topic)
            out = publish_properties(correlation=correlation)
            assert self._client is not None
            info = self._client.publish(reply.topic, reply.payload, qos=QOS, properties=out)
            if reply.after is not None:
                info.wait_for_publish(STOP_TIMEOUT_S)
                reply.after()

    def _config(self, payload: bytes, manager: ConfigManager) -> None:
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            manager._record(None, "refused", f"not JSON: {error}", code="malformed")
            return
        try:
            result = manager.apply_document(document)
        except ConfigRefused as refusal:
            if refusal.code == "version":
                log.info("config bundle ignored: %s", refusal.message)  # retained redelivery
            else:
                log.error("config bundle refused: %s", refusal)
            return
        if result.status == "applied" and self.on_config is not None:
            self.on_config(result.version)

    def _holds(self, payload: bytes, manager: ConfigManager) -> None:
        """The county's hold list: signed by a county anchor, for this county, newer."""
        try:
            hold_list = parse_hold_list(json.loads(payload), manager.anchors(), self.county)
        except (HoldListError, UnicodeDecodeError, json.JSONDecodeError) as error:
            manager.audit.append("county_holds.refused", {"reason": str(error)[:300]})
            log.error("county hold list refused: %s", error)
            return
        assert self._county_holds is not None  # set by _run before any message
        if self._county_holds.apply(hold_list):
            self.stats.hold_lists += 1

    def _beacon(self, payload: bytes, manager: ConfigManager, *, live: bool) -> None:
        """The county's time: signed by a county anchor, for this county, newer than any
        seen (a replay moves nothing); then the clock is judged and the alarm follows."""
        if self._judge is None:
            return
        try:
            beacon = parse_time_beacon(json.loads(payload), manager.anchors(), self.county)
        except (TimeBeaconError, UnicodeDecodeError, json.JSONDecodeError) as error:
            manager.audit.append("time.refused", {"reason": str(error)[:300]})
            log.error("time beacon refused: %s", error)
            return
        if not self._judge.accept_beacon(beacon, live=live):
            log.debug("time beacon %s not newer than one seen: ignored", beacon.issued_at)
            return
        self.stats.beacons += 1
        assert self._alarms is not None
        report(self._judge.assess(self.clock()), manager.store, self._alarms, manager.audit)

    def _trust(self, payload: bytes, manager: ConfigManager) -> None:
        """A newer county trust list replaces ``{data_dir}/trust.json`` atomically."""
        audit = manager.audit
        try:
            trust = parse_trust_list(json.loads(payload), manager.anchors())
        except (TrustListError, UnicodeDecodeError, json.JSONDecodeError) as error:
            audit.append("trust.refused", {"reason": str(error)})
            log.error("trust list refused: %s", error)
            return
        path = self.config.paths.data_dir / TRUST_FILE
        if trust.county != self.county:
            audit.append("trust.refused", {"reason": f"for county {trust.county}"})
            return
        if path.exists():
            try:
                current = parse_trust_list(json.loads(path.read_text("utf-8")), manager.anchors())
                if trust.version <= current.version:
                    return
            except (TrustListError, json.JSONDecodeError):
                pass  # an unreadable local copy is replaced
        atomic_write(path, payload, mode=PUBLIC)
        audit.append("trust.updated", {"version": trust.version, "keys": len(trust.keys)})
