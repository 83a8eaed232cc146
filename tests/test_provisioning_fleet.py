"""The county's CLI against a real kiosk over Mosquitto with the deployment ACL:
manual enrollment approval, the agent applying config pushes (device, township,
county) that then show in its retained birth at the collector, the fleet view,
commands with their timeout, the trust list reaching ``kiosk verify``, and the
station-side command log beside the kiosk's audit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.certificates import fields, signed_qr
from support.mqtt_broker import broker_factory, write_password_file  # noqa: F401
from support.provisioning import COUNTY_KEY, CST
from support.uplink import DEPLOY, collector_settings, deploy_acl

from app import agent
from kiosk.config import load_config
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from provisioning.enroll import EnrollError, enroll
from provisioning.hardware import HardwareDirect
from station import cli as station_cli
from station.collector import Collector
from station.db import Database
from station.devices import fleet, register_device
from station.enroll import BrokerAccounts, EnrollmentService
from wire.mqtt import BrokerSettings
from wire.signing import SigningKey

ROOT = Path(__file__).resolve().parents[1]
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


class County:
    """Broker, enrollment service, collector and the files ``station`` is run with."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.tmp = tmp_path
        self.port = port
        self.db = str(tmp_path / "station.db")
        self.key = tmp_path / "county.pem"
        COUNTY_KEY.save(self.key)
        self.password = tmp_path / "county-pw"
        self.password.write_text("pw-county")

    def station(self, capsys, *argv: str) -> tuple[int, str, str]:
        """``station ARGV`` (argparse main, in this process): exit code, stdout, stderr."""
        code = station_cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    def broker_args(self) -> list[str]:
        return [
            "--key", str(self.key), "--db", self.db, "--port", str(self.port),
            "--username", "county-330100", "--password-file", str(self.password),
        ]  # fmt: skip

    def fleet_row(self, device: str = "K001") -> dict[str, Any] | None:
        with Database(self.db) as db:
            rows = [r for r in fleet(db, "330100") if r["device_id"] == device]
        return rows[0] if rows else None


@pytest.fixture
def county(tmp_path, broker_factory) -> Iterator[County]:  # noqa: F811
    files = tmp_path / "broker-files"
    acl = deploy_acl(files, ACCOUNTS)
    (files / "accounts").write_text(ACCOUNTS)
    passwd = write_password_file(files / "passwd", PASSWORDS)
    broker = broker_factory(acl=acl, passwords=passwd)
    accounts = BrokerAccounts(
        files / "accounts",
        acl,
        passwd,
        acl_base=DEPLOY / "acl.base",
        reload=lambda: os.kill(broker._proc.pid, signal.SIGHUP),
    )
    county = County(tmp_path, broker.port)
    settings = BrokerSettings(
        "127.0.0.1", broker.port, "county-330100", "pw-county", client_id="station-enroll"
    )
    collector = Collector(
        collector_settings(
            broker.port, username="collector-330100", password="pw-col", county="330100"
        ),
        county.db,
    )
    with EnrollmentService(county.db, "330100", COUNTY_KEY, settings, accounts) as service:
        assert service.subscribed.wait(5)
        collector.start()
        try:
            yield county
        finally:
            collector.close()


def kiosk_toml(tmp_path: Path, port: int) -> Path:
    """The installed file of a kiosk image: the county broker and the enrollment account."""
    pw = tmp_path / "enroll-pw"
    pw.write_text("pw-enroll")
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[uplink]\nhost = "127.0.0.1"\nport = {port}\nusername = "enroll-330100"\n'
        f'password_file = "{pw}"\n'
        '[certificate]\nverify_url = "HTTPS://QS.COUNTY.NCP.CN/V/"\n',
        "utf-8",
    )
    return path


def kiosk_cli(toml: Path, data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(toml), "--data-dir", str(data), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


class Agent:
    """``kiosk agent`` as ``app.agent.run(config, stop)`` in a thread (headless)."""

    def __init__(self, toml: Path, data: Path) -> None:
        self.config = load_config(toml, data_dir=data)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=agent.run,
            args=(self.config, self.stop),
            kwargs={"hardware": lambda _store: HardwareDirect(None, lambda: None)},
            name="agent",
        )

    def __enter__(self) -> Agent:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()

    def audited(self, kind: str) -> list[dict]:
        with Store(self.config.paths.database) as store:
            return [e.data for e in AuditLog(store, lambda: datetime.now(CST)).entries(kind=kind)]


def test_manual_approval_config_push_fleet_commands_and_trust(county, tmp_path, capsys) -> None:
    toml, data = kiosk_toml(tmp_path, county.port), tmp_path / "kiosk-data"

    # Enrollment with a code that needs a technician's approval.
    code, out, _ = county.station(
        capsys, "devices", "enroll-code", "--county", "330100", "--township", "示范镇",
        "--manual", "--json", "--db", county.db,
    )  # fmt: skip
    assert code == 0
    enroll_code = json.loads(out)["code"]
    waiting = kiosk_cli(toml, data, "enroll", enroll_code, "--timeout", "2")
    assert waiting.returncode == 1
    assert "waiting for approval" in waiting.stderr, waiting.stderr
    code, out, _ = county.station(capsys, "devices", "pending", "--db", county.db)
    request_id = out.split()[0]
    assert request_id in waiting.stderr
    assert not (data / "config" / "identity.json").exists()
    code, out, _ = county.station(capsys, "devices", "approve", request_id, "--db", county.db)
    assert code == 0 and "approved" in out
    done = kiosk_cli(toml, data, "enroll", enroll_code, "--timeout", "10")
    assert done.returncode == 0, done.stderr
    assert "enrolled as 330100/K001 (示范镇" in done.stdout

    # Another township's kiosk, registered at the county (its key signs certificates).
    other_key = SigningKey.generate()
    with Database(county.db) as db:
        register_device(
            db, "330100", "K002", "别的镇", "别的镇服务点", other_key.public_b64,
            datetime.now(CST),
        )  # fmt: skip
    other_qr = signed_qr(
        other_key, fields(number="330100-K002-0000001", issued_at=datetime.now(CST))
    )
    before = kiosk_cli(toml, data, "verify", other_qr, "--json")
    assert before.returncode == 1 and not json.loads(before.stdout)["valid"]

    settings = tmp_path / "settings.toml"
    with Agent(toml, data) as kiosk:
        wait_for("K001 online", lambda: (county.fleet_row() or {}).get("status") == "online")
        assert county.fleet_row()["config_version"] == "0"

        # Config to one device, its township, another township, the whole county.
        for n, target in enumerate(
            (["--device", "K001"], ["--township", "示范镇"], ["--township", "别的镇"], []), 1
        ):
            settings.write_text(f"[ui]\nidle_timeout_s = {100 + n}\n")
            code, out, err = county.station(
                capsys, "config", "push", "--county", "330100", *target, str(settings),
                *county.broker_args(),
            )  # fmt: skip
            assert code == 0, err
            assert f"config version {n} published" in out
            expected = {1: "K001", 2: "K001", 3: "K002", 4: "K001, K002"}[n]
            assert out.rstrip().endswith(expected), out
            if n != 3:
                wait_for(
                    f"config {n} in K001's birth",
                    lambda n=n: (county.fleet_row() or {}).get("config_version") == str(n),
                )
        assert [a["version"] for a in kiosk.audited("config.applied")] == [1, 2, 4]
        shown = kiosk_cli(toml, data, "config", "show", "--json")
        assert json.loads(shown.stdout)["config"]["ui"]["idle_timeout_s"] == 104

        # An alarm from the kiosk reaches the fleet view.
        with Store(kiosk.config.paths.database) as store:
            outbox = Outbox(store, "330100", "K001", lambda: datetime.now(CST))
            Alarms(store, outbox, outbox.clock).raise_("paper_out", "warning", "缺纸")
        wait_for("the alarm at the county", lambda: county.fleet_row()["open_alarms"])
        code, out, _ = county.station(capsys, "devices", "list", "--db", county.db)
        line = next(x for x in out.splitlines() if x.startswith("330100/K001"))
        assert "示范镇" in line and "online" in line and "paper_out" in line
        software = county.fleet_row()["software_version"]
        assert software and software in line
        fields_ = line.split()
        assert fields_[-3:-1] == ["4", "0"], line  # cfg, backlog

        # A command and its reply, audited on both sides.
        code, out, err = county.station(
            capsys, "cmd", "330100/K001", "diagnostics", "hardware=false", *county.broker_args()
        )
        assert code == 0, err
        reply = json.loads(out)
        assert reply["status"] == "ok" and reply["result"]["versions"]["config"] == 4
        assert reply["result"]["alarms"][0]["code"] == "paper_out"
        command_id = reply["command_id"]
        executed = kiosk.audited("command.executed")
        assert [(e["id"], e["name"]) for e in executed] == [(command_id, "diagnostics")]
        code, out, _ = county.station(capsys, "devices", "show", "330100/K001", "--db", county.db)
        shown = json.loads(out)
        assert shown["recent_commands"][0]["id"] == command_id
        assert shown["recent_commands"][0]["status"] == "ok"
        assert shown["township"] == "示范镇" and shown["config_version"] == "4"
        assert len(shown["keys"]) == 1

        # The trust list with K002's key reaches the kiosk, and `kiosk verify` uses it.
        code, out, err = county.station(
            capsys, "trust", "publish", "--county", "330100", *county.broker_args()
        )
        assert code == 0, err
        version = int(out.split("version ")[1].split()[0])
        wait_for("trust.updated", lambda: kiosk.audited("trust.updated"))
        assert kiosk.audited("trust.updated")[-1]["version"] == version
        after = kiosk_cli(toml, data, "verify", other_qr, "--json")
        assert after.returncode == 0, after.stdout + after.stderr
        assert json.loads(after.stdout)["valid"] is True

    # The kiosk is offline now: a clear timeout and exit code 1.
    wait_for("K001 offline", lambda: county.fleet_row()["status"] != "online")
    code, out, err = county.station(
        capsys, "cmd", "330100/K001", "diagnostics", "--timeout", "1", *county.broker_args()
    )
    assert code == 1 and out == ""
    assert "timeout: no reply from 330100/K001 within 1 s" in err
    with Database(county.db) as db:
        logged = db.query("SELECT name, status FROM command_log ORDER BY sent_at")
    assert logged == [("diagnostics", "ok"), ("diagnostics", "timeout")]
    # As the message says, the command waited in the kiosk's session: it runs on return.
    with Agent(toml, data) as kiosk:
        wait_for("the queued command", lambda: len(kiosk.audited("command.executed")) == 2)


def test_refused_after_waiting_for_approval(county, tmp_path, capsys) -> None:
    toml = kiosk_toml(tmp_path, county.port)
    config = load_config(toml, data_dir=tmp_path / "kiosk-data")
    code, out, _ = county.station(
        capsys, "devices", "enroll-code", "--county", "330100", "--township", "示范镇",
        "--manual", "--json", "--db", county.db,
    )  # fmt: skip
    enroll_code = json.loads(out)["code"]
    with pytest.raises(EnrollError, match="waiting for approval"):
        enroll(config, enroll_code, timeout_s=1.5)
    request_id = county.station(capsys, "devices", "pending", "--db", county.db)[1].split()[0]
    code, _, _ = county.station(
        capsys, "devices", "refuse", request_id, "--reason", "不是本县设备", "--db", county.db
    )
    assert code == 0
    with pytest.raises(EnrollError, match="refused by the county: 不是本县设备"):
        enroll(config, enroll_code, timeout_s=5)
    # Another kiosk (another key) with the same code gets nothing from that request.
    stranger = load_config(toml, data_dir=tmp_path / "stranger")
    with pytest.raises(EnrollError, match="already used"):
        enroll(stranger, enroll_code, timeout_s=5)
    assert not (tmp_path / "kiosk-data" / "config" / "identity.json").exists()
    assert county.fleet_row() is None
