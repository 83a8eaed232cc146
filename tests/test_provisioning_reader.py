"""Reader commands from the county against the simulated reader: self-test, calibration,
chunked resumable firmware update; run directly (headless agent) and through the
hardware relay to a UI-side ``HardwareDesk`` loop, as docs/provisioning.md describes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.mqtt_broker import broker_factory  # noqa: F401
from support.provisioning import COUNTY_KEY, enrolled_config, now
from support.reader import public_hex, simulated_reader
from support.uplink import deploy_acl, wait_until

from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager
from provisioning.hardware import HardwareDesk, HardwareDirect, HardwareRelay
from provisioning.listener import ProvisioningListener
from station import cli as station_cli
from station import commands as station_commands
from station.commands import CommandClient
from station.db import Database
from wire.mqtt import BrokerSettings

ACCOUNTS = """
kiosk      330100/K001
county     county-330100 330100
"""
PASSWORDS = {"330100/K001": "pw-a", "county-330100": "pw-county"}
VENDOR = Ed25519PrivateKey.generate()
IMAGE_SIZE = 40 * 1024
CHUNK = 8 * 1024  # five chunks, so an interruption falls in the middle


class Rig:
    """A kiosk's provisioning listener, its reader, and the county's command client."""

    def __init__(self, tmp_path: Path, port: int, reader) -> None:
        pw = tmp_path / "pw"
        pw.write_text("pw-a")
        self.config = enrolled_config(
            tmp_path / "data",
            uplink={
                "host": "127.0.0.1",
                "port": port,
                "username": "330100/K001",
                "password_file": pw,
            },
        )
        self.port = port
        self.reader = reader
        self.direct = HardwareDirect(None, lambda: reader)
        self.relayed = False
        self.store = Store(self.config.paths.database)
        manager = ConfigManager(self.config, self.store, AuditLog(self.store, now), now)
        self.listener = ProvisioningListener(
            manager, self._hardware, now, versions=lambda: {"software": "test", "config": 0}
        )
        self.station_db = str(tmp_path / "station.db")
        self.county = CommandClient(
            BrokerSettings("127.0.0.1", port, "county-330100", "pw-county", client_id="county"),
            COUNTY_KEY,
            Database(self.station_db),
        )

    def _hardware(self, store: Store):
        rig = self

        class Switch:  # direct (headless) or relayed to the UI process, per test
            def run(self, action, args, command_id):
                chosen = HardwareRelay(store, timeout_s=5) if rig.relayed else rig.direct
                return chosen.run(action, args, command_id)

        return Switch()

    def audited(self, kind: str) -> list[dict]:
        return [e.data for e in AuditLog(self.store, now).entries(kind=kind)]


@pytest.fixture
def rig(tmp_path, broker_factory) -> Iterator[Rig]:  # noqa: F811
    broker = broker_factory(acl=deploy_acl(tmp_path / "acl", ACCOUNTS), passwords=PASSWORDS)
    with simulated_reader(tmp_path, args=["--trusted-key", public_hex(VENDOR)]) as reader:
        rig = Rig(tmp_path, broker.port, reader)
        rig.listener.start()
        assert rig.listener.wait_connected(5)
        try:
            yield rig
        finally:
            rig.county.close()
            rig.county.db.close()
            rig.listener.stop()
            rig.store.close()


@pytest.fixture
def ui_loop(rig) -> Iterator[list[int]]:
    """The UI process's side of the relay: serves ``hardware_requests`` between frames."""
    rig.relayed = True
    stop = threading.Event()
    served: list[int] = []

    def loop() -> None:
        with Store(rig.config.paths.database) as store:
            desk = HardwareDesk(store, rig.direct)
            while not stop.wait(0.02):
                served.append(desk.serve_pending())

    thread = threading.Thread(target=loop, name="ui-loop")
    thread.start()
    yield served
    stop.set()
    thread.join()


def check_selftest_and_calibration(rig: Rig) -> None:
    out = rig.county.send("330100", "K001", "reader_selftest", {})
    assert out.status == "ok", out.reply
    report = out.reply["result"]
    assert report["passed"] is True and report["failures"] == []
    assert 0 < report["lamp_relative"] <= 1.5 and 15 < report["temperature_c"] < 40
    out = rig.county.send(
        "330100", "K001", "reader_calibrate", {"kind": "blank", "channels": [0, 1]}
    )
    assert out.status == "ok", out.reply
    assert out.reply["result"]["kind"] == "blank"
    assert sorted(out.reply["result"]["values"]) == ["0", "1"]
    out = rig.county.send("330100", "K001", "reader_calibrate", {"kind": "reference"})
    assert out.status == "ok" and out.reply["result"]["kind"] == "reference", out.reply
    out = rig.county.send("330100", "K001", "reader_calibrate", {"kind": "sideways"})
    assert out.status == "error" and "blank or reference" in out.reply["reason"]


def test_reader_selftest_and_calibration_headless(rig) -> None:
    check_selftest_and_calibration(rig)
    names = [e["name"] for e in rig.audited("command.executed")]
    assert names == ["reader_selftest", "reader_calibrate", "reader_calibrate"]
    assert [e["name"] for e in rig.audited("command.failed")] == ["reader_calibrate"]
    assert rig.store.conn.execute("SELECT count(*) FROM hardware_requests").fetchone()[0] == 0


def test_reader_selftest_and_calibration_through_the_ui_relay(rig, ui_loop) -> None:
    check_selftest_and_calibration(rig)
    rows = rig.store.conn.execute("SELECT action, state FROM hardware_requests ORDER BY id")
    assert list(rows) == [("reader_selftest", "done")] + [("reader_calibrate", "done")] * 2 + [
        ("reader_calibrate", "failed")
    ]
    assert sum(ui_loop) == 4


def firmware_file(tmp_path: Path, version: str) -> Path:
    """The vendor's image and its IMAGE.json, as ``station cmd --file`` reads them."""
    from readerlink.firmware_image import build_test_image, sign_image

    signed = sign_image(build_test_image(version, IMAGE_SIZE), version, VENDOR)
    path = tmp_path / f"reader-{version}.bin"
    path.write_bytes(signed.image)
    meta = {"version": version, "signature": signed.signature.hex()}
    path.with_name(path.name + ".json").write_text(json.dumps(meta))
    return path


class Interrupted(Exception):
    """The county's transfer dies (process killed, link cut) after a chunk went out."""


def offsets_received(rig: Rig) -> list[int]:
    return [
        e["args"]["offset"]
        for e in rig.audited("command.executed")
        if e["name"] == "firmware_update"
    ]


@pytest.mark.parametrize("relayed", [False, True], ids=["headless", "ui-relay"])
def test_interrupted_firmware_transfer_resumes_and_flashes(
    rig, request, tmp_path, monkeypatch, capsys, relayed
) -> None:
    if relayed:
        request.getfixturevalue("ui_loop")
    monkeypatch.setattr(station_commands, "FIRMWARE_CHUNK", CHUNK)
    path = firmware_file(tmp_path, "2.0.0")
    image = path.read_bytes()
    signature = json.loads(path.with_name(path.name + ".json").read_text())["signature"]
    real_send = CommandClient.send
    sent: list[int] = []

    def dying_send(self, county, device, name, args, **kw):
        sent.append(args["offset"])
        if len(sent) == 3:  # the third chunk reaches the kiosk; its sender never hears back
            real_send(self, county, device, name, args, **{**kw, "timeout": 0.0})
            raise Interrupted
        return real_send(self, county, device, name, args, **kw)

    monkeypatch.setattr(CommandClient, "send", dying_send)
    with pytest.raises(Interrupted):
        rig.county.send_firmware("330100", "K001", image, "2.0.0", signature)
    monkeypatch.setattr(CommandClient, "send", real_send)
    wait_until(lambda: len(offsets_received(rig)) == 3, 5, "the third chunk at the kiosk")
    assert offsets_received(rig) == [0, CHUNK, 2 * CHUNK]
    assert rig.reader.info().firmware_version == "1.0.0"  # nothing flashed yet

    # A new `station cmd` run starts at 0; the kiosk answers with its offset and the
    # transfer continues from there: chunks already there are not sent again.
    (tmp_path / "county.pem").unlink(missing_ok=True)
    COUNTY_KEY.save(tmp_path / "county.pem")
    (tmp_path / "county-pw").write_text("pw-county")
    code = station_cli.main(
        [
            "cmd", "330100/K001", "firmware_update", "--file", str(path),
            "--key", str(tmp_path / "county.pem"), "--db", rig.station_db,
            "--port", str(rig.port), "--username", "county-330100",
            "--password-file", str(tmp_path / "county-pw"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    reply = json.loads(printed)
    assert reply["result"]["complete"] is True and reply["result"]["firmware_version"] == "2.0.0"
    assert offsets_received(rig) == [0, CHUNK, 2 * CHUNK, 0, 3 * CHUNK, 4 * CHUNK]
    assert rig.reader.info().firmware_version == "2.0.0"
    assert not list((rig.config.paths.data_dir / "provisioning" / "firmware").iterdir())
    with Database(rig.station_db) as db:
        logged = db.query("SELECT name, status FROM command_log ORDER BY sent_at")
    # The interrupted run's third chunk has no reply on the county's side.
    assert [s for _n, s in logged] == ["ok", "ok", "timeout", "ok", "ok", "ok"]
    assert {n for n, _s in logged} == {"firmware_update"}
    if relayed:
        rows = list(rig.store.conn.execute("SELECT action, state FROM hardware_requests"))
        assert rows == [("reader_flash", "done")]
