"""Signed config bundles: refusals, health-check rollback, and SIGKILL while applying."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.provisioning import COUNTY_KEY, enrolled_config, now

from kiosk.config import effective_config, read_layer
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager, ConfigRefused
from wire.provisioning import make_config_bundle
from wire.signing import SigningKey

ROOT = Path(__file__).resolve().parents[1]


def bundle(version: int, settings: dict, *, key: SigningKey = COUNTY_KEY, target=None) -> dict:
    return make_config_bundle(key, "330100", target or {}, version, settings, now())


@pytest.fixture
def manager(tmp_path):
    config = enrolled_config(tmp_path / "data")
    store = Store(config.paths.database)
    yield ConfigManager(config, store, AuditLog(store, now), now)
    store.close()


def audited(manager: ConfigManager, kind: str) -> list[dict]:
    return [e.data for e in manager.audit.entries(kind=kind)]


def test_good_bundle_applies_and_changes_the_effective_config(manager) -> None:
    result = manager.apply_document(bundle(1, {"ui": {"idle_timeout_s": 120}}))
    assert result.status == "applied" and manager.applied_version() == 1
    assert effective_config(manager.base).ui.idle_timeout_s == 120
    assert effective_config(manager.base).device.device_id == "K001"  # identity kept
    assert audited(manager, "config.applied")[0]["version"] == 1


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (lambda: bundle(2, {"ui": {"idle_timeout_s": 30}}, key=SigningKey.generate()), "signature"),
        (
            lambda: {**bundle(2, {}), "body": bundle(2, {})["body"].replace("2", "3", 1)},
            "signature",
        ),
        (lambda: bundle(1, {"ui": {"idle_timeout_s": 30}}), "version"),  # not above 1
        (lambda: bundle(2, {"ui": {"idle_timeout_s": "soon"}}), "schema"),
        (lambda: bundle(2, {"ui": {"idel_timeout_s": 30}}), "schema"),  # typo: unknown key
        (lambda: bundle(2, {"device": {"device_id": "K666"}}), "protected"),
        (lambda: bundle(2, {}, target={"device": "K002"}), "addressee"),
        (lambda: bundle(2, {}, target={"township": "别的镇"}), "addressee"),
    ],
)
def test_refused_bundles_change_nothing_and_are_audited(manager, document, code) -> None:
    manager.apply_document(bundle(1, {"ui": {"idle_timeout_s": 120}}))
    before = manager.path.read_bytes()
    with pytest.raises(ConfigRefused) as refused:
        manager.apply_document(document())
    assert refused.value.code == code, refused.value
    assert manager.path.read_bytes() == before and manager.applied_version() == 1
    assert audited(manager, "config.refused")[-1]["code"] == code


def test_failed_health_check_rolls_back(manager, tmp_path) -> None:
    manager.apply_document(bundle(1, {"ui": {"idle_timeout_s": 120}}))
    before = manager.path.read_bytes()
    # What the schema can check is refused before anything is written.
    with pytest.raises(ConfigRefused, match=r"printer\.profile"):
        manager.apply_document(bundle(2, {"printer": {"profile": "no-such-printer"}}))
    assert manager.path.read_bytes() == before
    # Valid for the schema, but the kiosk cannot run with it: the county CA is missing.
    missing_ca = {"uplink": {"tls_ca": "/nonexistent/county-ca.pem"}}
    result = manager.apply_document(bundle(2, missing_ca))
    assert result.status == "rolled_back" and "uplink.tls_ca" in result.reason
    assert manager.path.read_bytes() == before and manager.applied_version() == 1
    assert audited(manager, "config.rolled_back")[0]["version"] == 2
    with pytest.raises(ConfigRefused, match="already failed"):  # the retained copy again
        manager.apply_document(bundle(2, missing_ca))
    assert manager.apply_document(bundle(3, {"ui": {"idle_timeout_s": 60}})).status == "applied"


APPLIER = """
import sys
from datetime import datetime, timezone, timedelta
sys.path[:0] = [{root!r}, {tests!r}]
from support.provisioning import enrolled_config, now
from kiosk.infra.audit import AuditLog
from wire.signing import SigningKey
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager
from wire.provisioning import make_config_bundle
from pathlib import Path
from support import provisioning as provisioning_helpers
key = SigningKey.load(Path({key!r}))
provisioning_helpers.COUNTY_KEY = key
config = enrolled_config(Path({data!r}))
store = Store(config.paths.database)
m = ConfigManager(config, store, AuditLog(store, now), now)
m.recover()
v = m.applied_version()
print("ready", flush=True)
while True:
    v += 1
    doc = make_config_bundle(key, "330100", {{}}, v, {{"ui": {{"idle_timeout_s": 15 + v % 3000}},
                             "uplink": {{"keepalive_s": 10 + v % 3000}}}}, now())
    m.apply_document(doc)
"""


def consistent(data: Path) -> int:
    """The applied layer is one whole version: its settings are that version's settings."""
    layer = read_layer(data / "config" / "managed.json")
    if layer is None:
        return 0
    v = layer["version"]
    assert layer["settings"] == {
        "ui": {"idle_timeout_s": 15 + v % 3000},
        "uplink": {"keepalive_s": 10 + v % 3000},
    }, layer
    return v


def test_sigkill_while_applying_leaves_old_or_new_never_a_mix(tmp_path) -> None:
    data = tmp_path / "data"
    enrolled_config(data)  # the identity layer, with the test's anchor
    key_file = tmp_path / "county.pem"
    from support import provisioning as provisioning_helpers

    provisioning_helpers.COUNTY_KEY.save(key_file)
    script = APPLIER.format(
        root=str(ROOT), tests=str(ROOT / "tests"), key=str(key_file), data=str(data)
    )
    rng = random.Random(6)
    seen = []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout and proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen.append(consistent(data))
        config = enrolled_config(data)
        with Store(config.paths.database) as store:
            m = ConfigManager(config, store, AuditLog(store, now), now)
            m.recover()
            after = consistent(data)
            assert effective_config(config).uplink.keepalive_s == 10 + after % 3000 or after == 0
            assert not m.pending.exists()
    assert seen[-1] > 6, f"the applier made too little progress to test anything: {seen}"
