"""Issue 11 item 5: a signed config bundle cannot cut a kiosk off, on real Mosquitto.

Before the defence (main at aa4ea2d): a signed bundle with a wrong ``uplink.tls_ca`` (an
existing CA that did not sign the broker) or a wrong host or port passed the health
check, and the agent then failed to reach the county on every start.
"""

from __future__ import annotations

import shutil
import threading
import time

from support.mqtt_broker import broker_factory, free_port  # noqa: F401  (fixture)
from support.provisioning import COUNTY_KEY, enrolled_config, now
from test_uplink_tls import tls_broker

import app.agent
from kiosk.config import effective_config
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import PROBATION_FILE, ConfigManager
from wire.provisioning import make_config_bundle


def bundle(version: int, settings: dict) -> dict:
    return make_config_bundle(COUNTY_KEY, "330100", {}, version, settings, now())


def open_alarms(manager: ConfigManager) -> list[tuple[str, str]]:
    sql = "SELECT subject, code FROM alarms WHERE cleared_at IS NULL ORDER BY id"
    return [tuple(row) for row in manager.store.conn.execute(sql)]


def manager_for(config) -> ConfigManager:
    store = Store(config.paths.database)
    return ConfigManager(config, store, AuditLog(store, now), now)


def test_a_bundle_with_a_wrong_host_or_port_is_rolled_back(tmp_path, broker_factory) -> None:  # noqa: F811
    broker, other = broker_factory(), broker_factory()
    config = enrolled_config(tmp_path / "data", uplink={"host": "127.0.0.1", "port": broker.port})
    manager = manager_for(config)
    closed = manager.apply_document(bundle(1, {"uplink": {"port": free_port()}}))
    assert closed.status == "rolled_back" and closed.reason.startswith("uplink:"), closed
    nowhere = manager.apply_document(bundle(2, {"uplink": {"host": "county.invalid"}}))
    assert nowhere.status == "rolled_back", nowhere
    assert effective_config(config).uplink.port == broker.port  # still reaches the county
    told = dict(open_alarms(manager))
    assert told == {"1": "config_rolled_back", "2": "config_rolled_back"}  # the county hears
    moved = manager.apply_document(bundle(3, {"uplink": {"port": other.port}}))
    assert moved.status == "applied" and manager.on_probation() == 3
    assert open_alarms(manager) == []  # cleared by the version that applied
    # A change that does not touch the connection needs no broker at all.
    other.stop()
    assert manager.apply_document(bundle(4, {"uplink": {"keepalive_s": 30}})).status == "applied"
    manager.store.close()


def test_a_wrong_or_unloadable_tls_ca_is_rolled_back(tmp_path, broker_factory) -> None:  # noqa: F811
    _, tls_port, pki = tls_broker(tmp_path, broker_factory)
    uplink = {"host": "127.0.0.1", "port": tls_port, "tls_ca": str(pki / "ca.crt"),
              "tls_cert": str(pki / "k001.crt"), "tls_key": str(pki / "k001.key")}  # fmt: skip
    config = enrolled_config(tmp_path / "data", uplink=uplink)
    manager = manager_for(config)
    wrong = manager.apply_document(bundle(1, {"uplink": {"tls_ca": str(pki / "other-ca.crt")}}))
    assert wrong.status == "rolled_back" and "certificate verify failed" in wrong.reason, wrong
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    broken = manager.apply_document(bundle(2, {"uplink": {"tls_ca": str(garbage)}}))
    assert broken.status == "rolled_back" and "do not load" in broken.reason, broken
    copy = tmp_path / "data" / "county-ca.pem"
    shutil.copy(pki / "ca.crt", copy)
    assert manager.apply_document(bundle(3, {"uplink": {"tls_ca": str(copy)}})).status == "applied"
    manager.store.close()
    # After a reboot the file is gone (an SD card repaired by fsck, say): the agent's
    # start puts the previous settings back by itself.
    copy.unlink()
    again = manager_for(config)
    assert again.check_after_start() == 3
    assert effective_config(config).uplink.tls_ca == pki / "ca.crt"
    history = again.store.conn.execute("SELECT status FROM config_history WHERE version = 3")
    assert history.fetchone()[0] == "rolled_back"
    again.store.close()


def test_settings_that_cannot_connect_after_a_reboot_are_undone_by_the_agent(
    tmp_path,
    broker_factory,  # noqa: F811
    monkeypatch,
) -> None:
    broker, other = broker_factory(), broker_factory()
    config = enrolled_config(tmp_path / "data", uplink={"host": "127.0.0.1", "port": broker.port})
    manager = manager_for(config)
    assert manager.apply_document(bundle(1, {"uplink": {"port": other.port}})).status == "applied"
    manager.store.close()
    other.stop()  # the new broker is gone when the kiosk comes back up
    monkeypatch.setattr(app.agent, "PROBATION_S", 2.0)
    stop = threading.Event()
    agent = threading.Thread(target=app.agent.run, args=(config, stop), daemon=True)
    agent.start()
    try:
        deadline = time.monotonic() + 30
        while effective_config(config).uplink.port != broker.port:
            assert time.monotonic() < deadline, "the agent kept the settings that cannot connect"
            time.sleep(0.2)
    finally:
        stop.set()
        agent.join(20)
    assert not agent.is_alive()
    check = manager_for(config)
    assert check.on_probation() is None
    check.store.close()


def test_settings_that_connect_after_a_reboot_leave_probation(tmp_path, broker_factory) -> None:  # noqa: F811
    broker, other = broker_factory(), broker_factory()
    config = enrolled_config(tmp_path / "data", uplink={"host": "127.0.0.1", "port": broker.port})
    manager = manager_for(config)
    assert manager.apply_document(bundle(1, {"uplink": {"port": other.port}})).status == "applied"
    manager.store.close()
    stop = threading.Event()
    agent = threading.Thread(target=app.agent.run, args=(config, stop), daemon=True)
    agent.start()
    try:
        deadline = time.monotonic() + 30
        while (tmp_path / "data" / "config" / PROBATION_FILE).exists():
            assert time.monotonic() < deadline, "probation never ended"
            time.sleep(0.2)
    finally:
        stop.set()
        agent.join(20)
    assert effective_config(config).uplink.port == other.port
