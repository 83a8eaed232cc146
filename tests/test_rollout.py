"""Software rollout from the county (issue 18 item 2), on a real Mosquitto with the
deployed ACL: chunked, resumable ``software_update`` commands to three kiosks' agent
listeners, each checking the SHA-256 and the release signature before it stages the
bundle for its root updater; canaries first, halted by itself on failures."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)
from support.provisioning import COUNTY_KEY, enrolled_config, headless_listener, now
from support.uplink import deploy_acl
from support.wheels import make_wheel

from kiosk.config import effective_config
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from kiosk.infra.update import build_bundle
from station import rollout
from station.commands import CommandClient
from station.db import Database
from wire.mqtt import BrokerSettings
from wire.signing import SigningKey

DEVICES = ("K001", "K002", "K003")
ACCOUNTS = "\n".join(f"kiosk 330100/{d}" for d in DEVICES) + "\ncounty county-330100 330100\n"
PASSWORDS = {f"330100/{d}": f"pw-{d}" for d in DEVICES} | {"county-330100": "pw-county"}
RELEASE_KEY = SigningKey.generate()


def bundle(tmp: Path, version: str, key: SigningKey = RELEASE_KEY) -> bytes:
    wheel = make_wheel(tmp / f"w-{version}", "agriqs-kiosk", version,
                       {"agriqs_probe/__init__.py": "x = 1\n" * 40_000})  # fmt: skip
    out = build_bundle([wheel], version, key, tmp / f"agriqs-{version}-{key.key_id}.tar")
    return out.read_bytes()


@pytest.fixture
def fleet(tmp_path, broker_factory):  # noqa: F811
    broker = broker_factory(acl=deploy_acl(tmp_path / "acl", ACCOUNTS), passwords=PASSWORDS)
    kiosks, listeners = {}, []
    for device in DEVICES:
        pw = tmp_path / f"pw-{device}"
        pw.write_text(PASSWORDS[f"330100/{device}"])
        base = enrolled_config(
            tmp_path / device, device=device,
            uplink={"host": "127.0.0.1", "port": broker.port, "username": f"330100/{device}",
                    "password_file": pw},
        )  # fmt: skip
        config = effective_config(base)
        keys = config.paths.release_keys_dir
        keys.mkdir(parents=True)
        (keys / "county-release.pub").write_text(RELEASE_KEY.public_b64)
        listener, store = headless_listener(config)
        listener.start()
        assert listener.wait_connected(10)
        kiosks[device] = config
        listeners.append((listener, store))
    county = CommandClient(
        BrokerSettings("127.0.0.1", broker.port, "county-330100", "pw-county",
                       client_id="county-330100-rollout"),
        COUNTY_KEY, Database(str(tmp_path / "station.db")),
    )  # fmt: skip
    yield kiosks, county
    county.close()
    county.db.close()
    for listener, store in listeners:
        listener.stop()
        store.close()


def staged(config) -> list[str]:
    return sorted(p.name for p in (config.paths.update_dir / "incoming").glob("*.tar"))


def audit(config, kind: str) -> list[dict]:
    with Store(config.paths.database) as store:
        return [e.data for e in AuditLog(store, now).entries(kind=kind)]


def test_a_bundle_arrives_in_chunks_resumes_and_is_staged_only_when_verified(
    fleet, tmp_path
) -> None:
    kiosks, county = fleet
    good = bundle(tmp_path, "2.0.0")
    assert len(good) > 3 * 48 * 1024  # several chunks
    # The link drops after the first chunk: the next push resumes where the kiosk is.
    sha = hashlib.sha256(good).hexdigest()
    first = county.send("330100", "K001", "software_update", {
        "sha256": sha, "size": len(good), "offset": 0,
        "chunk_b64": base64.b64encode(good[:1000]).decode()})  # fmt: skip
    assert first.status == "ok" and first.reply["result"]["next_offset"] == 1000
    done = county.send_software("330100", "K001", good)
    assert done.status == "ok", done.reply["reason"]
    assert done.reply["result"]["version"] == "2.0.0"
    assert staged(kiosks["K001"]) == ["2.0.0.tar"]
    assert (kiosks["K001"].paths.update_dir / "incoming/2.0.0.tar").read_bytes() == good
    assert audit(kiosks["K001"], "update.received")[0]["version"] == "2.0.0"
    # A bundle signed by another key: whole and matching its hash, but never staged.
    forged = bundle(tmp_path, "9.9.9", SigningKey.generate())
    refused = county.send_software("330100", "K002", forged)
    assert refused.status == "error" and "bundle refused" in refused.reply["reason"]
    assert staged(kiosks["K002"]) == []
    assert audit(kiosks["K002"], "update.refused")
    # Bytes altered in transit (a chunk that does not add up to the hash): discarded.
    sha2 = hashlib.sha256(good).hexdigest()
    bad = county.send("330100", "K003", "software_update", {
        "sha256": sha2, "size": 10, "offset": 0,
        "chunk_b64": base64.b64encode(b"0123456789").decode()})  # fmt: skip
    assert bad.status == "error" and "sha256" in bad.reply["reason"]
    assert staged(kiosks["K003"]) == []


def test_a_canary_that_fails_its_health_check_halts_before_the_others(fleet, tmp_path) -> None:
    kiosks, county = fleet
    good = bundle(tmp_path, "2.1.0")
    version = rollout.bundle_version(good)
    sent: list[str] = []

    def send(device: str) -> tuple[bool, str]:
        sent.append(device)
        outcome = county.send_software("330100", device, good)
        return outcome.status == "ok", str((outcome.reply or {}).get("reason", ""))

    # The canary's updater rolls back (it never reports 2.1.0): nothing more is sent.
    result = rollout.roll_out(
        send, lambda device, v: device != "K001", list(DEVICES), version,
        canaries=1, max_failures=1,
    )  # fmt: skip
    assert result.status == "halted" and sent == ["K001"]
    assert "did not report 2.1.0" in result.failed["K001"]
    assert result.not_sent == ["K002", "K003"]
    assert staged(kiosks["K002"]) == staged(kiosks["K003"]) == []
    # A healthy canary: the rest follow, each staged and verified.
    result = rollout.roll_out(send, lambda d, v: True, list(DEVICES), version, canaries=1)
    assert result.status == "done" and result.updated == list(DEVICES)
    assert all(staged(kiosks[d]) == ["2.1.0.tar"] for d in DEVICES)
    # Two failures allowed: one bad device does not stop the rest.
    result = rollout.roll_out(
        send, lambda d, v: d != "K002", list(DEVICES), version, canaries=1, max_failures=2
    )
    assert result.status == "done" and list(result.failed) == ["K002"]
    assert result.updated == ["K001", "K003"]


def test_the_version_is_read_from_the_bundle_and_junk_is_refused(tmp_path) -> None:
    assert rollout.bundle_version(bundle(tmp_path, "3.0.0")) == "3.0.0"
    with pytest.raises(rollout.RolloutError, match="not a software bundle"):
        rollout.bundle_version(b"not a tar")
    with pytest.raises(rollout.RolloutError, match="no devices"):
        rollout.roll_out(lambda d: (True, ""), lambda d, v: True, [], "3.0.0")


def test_the_bundle_waits_for_a_quiet_moment(fleet, tmp_path) -> None:
    """Never during a farmer's session or a rapid test: the UI's activity holds it back."""
    from kiosk.infra import activity
    from provisioning.commands import release_ready_update

    kiosks, county = fleet
    config = kiosks["K001"]
    activity.record(config.paths.data_dir, True, "session reader")
    done = county.send_software("330100", "K001", bundle(tmp_path, "2.2.0"))
    assert done.status == "ok" and done.reply["result"]["released"] is False
    assert staged(config) == []
    ready = config.paths.data_dir / "provisioning/software/ready"
    assert [p.name for p in ready.glob("*.tar")] == ["2.2.0.tar"]
    with Store(config.paths.database) as store:
        log = AuditLog(store, now)
        assert release_ready_update(config, log) is None  # still busy
        activity.record(config.paths.data_dir, False)
        assert release_ready_update(config, log) is not None  # the agent's next round
    assert staged(config) == ["2.2.0.tar"] and not list(ready.glob("*.tar"))
    assert audit(config, "update.released")[0]["bundle"] == "2.2.0.tar"
    # A busy state left by a UI that died long ago does not hold updates forever.
    activity.record(config.paths.data_dir, True, "session")
    assert activity.quiet(config.paths.data_dir)[0] is False
    import time

    assert activity.quiet(config.paths.data_dir, time.time() + activity.STALE_BUSY_S + 1)[0]
