"""Remote commands over a real Mosquitto with the deployment ACL: refusals and happy paths."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from support.mqtt_broker import broker_factory  # noqa: F401
from support.provisioning import COUNTY_KEY, enrolled_config, now
from support.uplink import deploy_acl

from app.compose import open_kiosk
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager
from provisioning.hardware import HardwareDesk, HardwareDirect, HardwareRelay
from provisioning.listener import ProvisioningListener
from station.commands import CommandClient
from station.db import Database
from wire.mqtt import BrokerSettings
from wire.provisioning import make_command
from wire.signing import SigningKey

ACCOUNTS = """
kiosk      330100/K001
kiosk      330100/K002
county     county-330100 330100
"""
PASSWORDS = {"330100/K001": "pw-a", "330100/K002": "pw-b", "county-330100": "pw-county"}


@pytest.fixture
def setup(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(acl=deploy_acl(tmp_path / "acl", ACCOUNTS), passwords=PASSWORDS)
    pw = tmp_path / "pw"
    pw.write_text("pw-a")
    config = enrolled_config(
        tmp_path / "data",
        uplink={
            "host": "127.0.0.1",
            "port": broker.port,
            "username": "330100/K001",
            "password_file": pw,
        },
    )
    kiosk = open_kiosk(config)
    direct = HardwareDirect(kiosk.printer, lambda: None, label="330100/K001")
    holder = {"hardware": lambda _store: direct}
    store = Store(config.paths.database)
    manager = ConfigManager(config, store, AuditLog(store, now), now)

    class Switchable:  # the test picks direct or relayed hardware per test
        def __init__(self, store: Store) -> None:
            self.store = store

        def run(self, action, args, command_id):
            return holder["hardware"](self.store).run(action, args, command_id)

    listener = ProvisioningListener(
        manager,
        Switchable,
        now,
        versions=lambda: {"software": "test", "config": manager.applied_version()},
    )
    listener.start()
    assert listener.wait_connected(5)
    county = CommandClient(
        BrokerSettings("127.0.0.1", broker.port, "county-330100", "pw-county", client_id="county"),
        COUNTY_KEY,
        Database(str(tmp_path / "station.db")),
    )
    yield kiosk, county, holder, manager
    county.close()
    county.db.close()
    listener.stop()
    store.close()
    kiosk.close()


def refusals(kiosk) -> list[dict]:
    return [e.data for e in AuditLog(kiosk.store, now).entries(kind="command.refused")]


def test_unsigned_expired_replayed_and_misaddressed_commands_are_refused(setup) -> None:
    kiosk, county, _, _ = setup
    # Signed by someone who is not the county.
    cid, doc = make_command(SigningKey.generate(), "330100", "K001", "diagnostics", {}, now())
    out = county.send_document("330100", "K001", "diagnostics", cid, doc)
    assert out.status == "refused" and "signature" in out.reply["reason"]
    # Unsigned: a bare body.
    cid, doc = make_command(COUNTY_KEY, "330100", "K001", "diagnostics", {}, now())
    out = county.send_document("330100", "K001", "diagnostics", cid, {"body": doc["body"]})
    assert out.status == "refused" and "signature" in out.reply["reason"]
    # Expired (issued two hours ago, lived ten minutes).
    cid, doc = make_command(
        COUNTY_KEY, "330100", "K001", "diagnostics", {}, now() - timedelta(hours=2)
    )
    out = county.send_document("330100", "K001", "diagnostics", cid, doc)
    assert out.status == "refused" and out.reply["reason"].startswith("expired")
    # For K002 but put on K001's topic.
    cid, doc = make_command(COUNTY_KEY, "330100", "K002", "diagnostics", {}, now())
    out = county.send_document("330100", "K001", "diagnostics", cid, doc)
    assert out.status == "refused" and "addressee" in out.reply["reason"]
    # Replay: the same signed lift runs once; the second copy is refused with the first reply.
    hold = kiosk.holds.place("P-1", "V001", "enzyme positive", "rapidtest:T1")
    cid, doc = make_command(
        COUNTY_KEY, "330100", "K001", "lift_hold", {"hold_id": hold.id, "by": "inspector-7"}, now()
    )
    first = county.send_document("330100", "K001", "lift_hold", cid, doc)
    assert first.status == "ok" and first.reply["result"]["lifted"] is True
    again = county.send_document("330100", "K001", "lift_hold", cid, doc)
    assert again.status == "refused" and again.reply["reason"].startswith("replay")
    assert again.reply["result"]["previous"]["body"]
    codes = [r["code"] for r in refusals(kiosk)]
    assert codes == ["signature", "signature", "expired", "addressee", "replay"]
    # The resent lift_hold is one row, its last reply the replay refusal.
    assert [s for _n, s in station_log(county)] == ["refused"] * 5
    lifted = kiosk.store.conn.execute(
        "SELECT count(*) FROM outbox WHERE body LIKE '%hold.lifted%'"
    ).fetchone()[0]
    assert lifted == 1


def test_happy_paths(setup) -> None:
    kiosk, county, _holder, _manager = setup
    out = county.send("330100", "K001", "diagnostics", {})
    assert out.status == "ok", out.reply
    result = out.reply["result"]
    assert result["versions"] == {"software": "test", "config": 0}
    assert result["hardware"]["printer"]["ready"] is True
    assert result["disk"]["free_mb"] > 0 and result["audit_head"]
    device = kiosk.printer.simulated_device
    before = device.label_count
    out = county.send("330100", "K001", "test_print", {})
    assert out.status == "ok" and out.reply["result"] == {"printed": 1}
    assert device.label_count == before + 1
    log_dir = kiosk.config.paths.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    (log_dir / "agent.log").write_text("".join(f"line {n}\n" for n in range(1000)))
    out = county.send("330100", "K001", "logs", {"lines": 5})
    assert out.reply["result"]["lines"] == [f"line {n}" for n in range(995, 1000)]
    out = county.send("330100", "K001", "roster", {"version": 1, "producers": [{"id": "P-1"}]})
    assert out.reply["result"] == {"version": 1, "count": 1}
    old_key = kiosk.signer.key_id
    out = county.send("330100", "K001", "rotate_keys", {})
    assert out.status == "ok" and out.reply["result"]["previous_key_id"] == old_key
    new_key = SigningKey.load(kiosk.config.paths.keys_dir / "certificate-signing.pem")
    assert new_key.key_id == out.reply["result"]["key_id"] != old_key
    executed = [e.data["name"] for e in AuditLog(kiosk.store, now).entries(kind="command.executed")]
    assert executed == ["diagnostics", "test_print", "logs", "roster", "rotate_keys"]
    # The county's own record of what it sent and what came back.
    assert station_log(county) == [(name, "ok") for name in executed]


def station_log(county: CommandClient) -> list[tuple[str, str]]:
    return [
        tuple(r) for r in county.db.query("SELECT name, status FROM command_log ORDER BY sent_at")
    ]


def test_hardware_relay_through_the_ui_loop_and_ui_not_running(setup) -> None:
    kiosk, county, holder, _ = setup
    holder["hardware"] = lambda store: HardwareRelay(store, timeout_s=1.0)
    out = county.send("330100", "K001", "test_print", {})
    assert out.status == "error" and out.reply["reason"].startswith("UI not running")
    # A UI loop serving the table (the UI process on a real kiosk).
    stop = threading.Event()
    direct = HardwareDirect(kiosk.printer, lambda: None)

    def ui_loop() -> None:
        with Store(kiosk.config.paths.database) as store:
            desk = HardwareDesk(store, direct)
            while not stop.wait(0.05):
                desk.serve_pending()

    thread = threading.Thread(target=ui_loop)
    thread.start()
    try:
        out = county.send("330100", "K001", "test_print", {})
        assert out.status == "ok" and out.reply["result"] == {"printed": 1}, out.reply
    finally:
        stop.set()
        thread.join()
    states = [
        r[0] for r in kiosk.store.conn.execute("SELECT state FROM hardware_requests ORDER BY id")
    ]
    assert states == ["expired", "done"]
