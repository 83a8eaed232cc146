"""Enrollment end to end against a real Mosquitto with the deployment ACL."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.kiosk import configured
from support.mqtt_broker import broker_factory, write_password_file  # noqa: F401
from support.provisioning import COUNTY_KEY
from support.uplink import DEPLOY, deploy_acl, wait_until

from kiosk.config import effective_config
from provisioning.enroll import EnrollError, enroll
from station.db import Database
from station.devices import fleet, make_code, now_utc
from station.enroll import BrokerAccounts, EnrollmentService
from wire.mqtt import BrokerSettings

ACCOUNTS = """
county     county-330100 330100
enroll     enroll-330100 330100
collector  collector-330100 330100
"""
PASSWORDS = {
    "county-330100": "pw-county",
    "enroll-330100": "pw-enroll",
    "collector-330100": "pw-col",
}
NOT_AUTHORIZED = 0x87


@pytest.fixture
def county(tmp_path, broker_factory):  # noqa: F811
    acl = deploy_acl(tmp_path / "broker-files", ACCOUNTS)
    (tmp_path / "broker-files" / "accounts").write_text(ACCOUNTS)
    passwd = write_password_file(tmp_path / "broker-files" / "passwd", PASSWORDS)
    # As deployed: the production ACL and the plugin binding client ids to accounts.
    broker = broker_factory(acl=acl, passwords=passwd, bind_client_ids=True)
    accounts = BrokerAccounts(
        tmp_path / "broker-files" / "accounts",
        acl,
        passwd,
        acl_base=DEPLOY / "acl.base",
        reload=lambda: os.kill(broker._proc.pid, signal.SIGHUP),
    )
    settings = BrokerSettings(
        "127.0.0.1",
        broker.port,
        "county-330100",
        "pw-county",
        client_id="county-330100-enroll-service",
    )
    db_url = str(tmp_path / "station.db")
    with EnrollmentService(db_url, "330100", COUNTY_KEY, settings, accounts) as service:
        assert service.subscribed.wait(5)
        yield broker, db_url


def kiosk_config(tmp_path, port, name="kiosk"):
    pw = tmp_path / f"{name}-enroll-pw"
    pw.write_text("pw-enroll")
    return configured(
        tmp_path / name,
        uplink={
            "host": "127.0.0.1",
            "port": port,
            "username": "enroll-330100",
            "password_file": pw,
        },
    )


def code_for(db_url, **kw):
    with Database(db_url) as db:
        return make_code(db, "330100", "示范镇", "示范镇服务点", **kw).code


def connect(port, user, password, client_id):
    acks, got = {}, []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    ok = threading.Event()
    c.on_connect = lambda _c, _u, _f, rc, _p: ok.set() if not rc.is_failure else None
    c.on_publish = lambda _c, _u, mid, rc, _p: acks.__setitem__(mid, rc.value)
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ok.wait(5), f"{user} could not log in"
    return c, acks, got


def puback(client, acks, topic):
    info = client.publish(topic, b"{}", qos=1)
    wait_until(lambda: info.mid in acks, 5, f"PUBACK for {topic}")
    return acks[info.mid]


def test_enrollment_end_to_end_and_the_new_credentials(tmp_path, county) -> None:
    broker, db_url = county
    config = kiosk_config(tmp_path, broker.port)
    done = enroll(config, code_for(db_url), timeout_s=10)
    assert (done.county, done.device_id, done.township) == ("330100", "K001", "示范镇")
    effective = effective_config(config)
    assert effective.device.device_id == "K001"
    assert effective.uplink.username == "330100/K001"
    assert effective.certificate.trust_anchors == [COUNTY_KEY.public_b64]
    assert (effective.paths.keys_dir / "mqtt-password").stat().st_mode & 0o077 == 0
    with Database(db_url) as db:
        rows = fleet(db, "330100")
    assert [r["device_id"] for r in rows] == ["K001"] and rows[0]["township"] == "示范镇"

    # The kiosk logs in with its own account and may publish its own events only.
    password = effective.uplink.password_file.read_text()
    col, _, seen = connect(broker.port, "collector-330100", "pw-col", "collector-330100")
    col.subscribe("agriqs/v1/330100/+/evt/#", qos=1)
    time.sleep(0.2)
    k, acks, _ = connect(broker.port, "330100/K001", password, "330100-K001")
    assert puback(k, acks, "agriqs/v1/330100/K001/evt/alarm") < 0x80
    wait_until(lambda: "agriqs/v1/330100/K001/evt/alarm" in seen, 5, "event at the county")
    assert puback(k, acks, "agriqs/v1/330100/K002/evt/alarm") == NOT_AUTHORIZED
    assert puback(k, acks, "agriqs/v1/330100/K001/cfg") == NOT_AUTHORIZED
    assert puback(k, acks, "agriqs/v1/330100/trust") == NOT_AUTHORIZED
    # The enrollment account can do nothing but enroll.
    e, eacks, _ = connect(broker.port, "enroll-330100", "pw-enroll", "enroll-330100-x")
    assert puback(e, eacks, "agriqs/v1/330100/K001/evt/alarm") == NOT_AUTHORIZED
    assert puback(e, eacks, "agriqs/v1/enroll/330100/enroll-other/req") == NOT_AUTHORIZED
    for c in (k, e, col):
        c.disconnect()
        c.loop_stop()


def test_reused_expired_and_forged_codes_are_refused(tmp_path, county) -> None:
    broker, db_url = county
    code = code_for(db_url)
    enroll(kiosk_config(tmp_path, broker.port, "first"), code, timeout_s=10)
    with pytest.raises(EnrollError, match="already used"):
        enroll(kiosk_config(tmp_path, broker.port, "second"), code, timeout_s=10)
    old = code_for(db_url, now=now_utc() - timedelta(hours=2))
    with pytest.raises(EnrollError, match="expired"):
        enroll(kiosk_config(tmp_path, broker.port, "third"), old, timeout_s=10)
    with pytest.raises(EnrollError, match="unknown enrollment code"):
        enroll(kiosk_config(tmp_path, broker.port, "fourth"), "ABCD-EFGH-JKMN", timeout_s=10)
    for name in ("second", "third", "fourth"):
        assert not (tmp_path / name / "config" / "identity.json").exists()
