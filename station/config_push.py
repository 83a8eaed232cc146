"""``station config push``: one signed bundle, retained on each target kiosk's cfg topic.

The version comes from a per-county counter, so it rises across every scope: a
device bundle after a county bundle is still newer, and each kiosk (which refuses a
version not above its own) applies whatever reaches it last from the county.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from station.db import Database
from station.devices import bump_version, devices_in, now_utc
from wire.mqtt import BrokerSettings, close, connect, publish_and_wait
from wire.provisioning import check_settings, make_config_bundle
from wire.signing import SigningKey
from wire.topics import config_topic


def read_settings(path: Path) -> dict[str, Any]:
    """Settings as TOML (like kiosk.toml) or JSON."""
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return tomllib.loads(text)


def push(
    db: Database,
    broker: BrokerSettings,
    key: SigningKey,
    county: str,
    settings: dict[str, Any],
    *,
    device: str | None = None,
    township: str | None = None,
) -> tuple[int, list[str]]:
    """Sign once, publish to every target; returns (version, devices)."""
    if device:
        target, devices = {"device": device}, [device]
    elif township:
        target, devices = {"township": township}, devices_in(db, county, township)
    else:
        target, devices = {}, devices_in(db, county)
    if not devices:
        raise ValueError("no registered kiosk matches that target")
    check_settings(settings)  # SettingsError naming the key: the kiosk would refuse it
    client = connect(broker)  # before the version: a broker that is down spends nothing
    try:
        version = bump_version(db, county, "config")
        bundle = make_config_bundle(key, county, target, version, settings, now_utc())
        payload = json.dumps(bundle, ensure_ascii=False).encode()
        for name in devices:
            publish_and_wait(
                client, config_topic(broker.prefix, county, name), payload, retain=True
            )
    finally:
        close(client)
    return version, devices
