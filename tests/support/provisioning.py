"""Shared pieces of the provisioning tests: a county key, an enrolled kiosk's config."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kiosk.config import IDENTITY_FILE, KioskConfig, config_dir, effective_config
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager
from provisioning.hardware import HardwareDirect
from provisioning.listener import ProvisioningListener
from support.kiosk import configured
from wire.signing import SigningKey

CST = timezone(timedelta(hours=8))
COUNTY_KEY = SigningKey.generate()


def now() -> datetime:
    return datetime.now(CST)


def enrolled_config(
    data_dir: Path,
    *,
    device: str = "K001",
    township: str = "示范镇",
    uplink: dict[str, Any] | None = None,
) -> KioskConfig:
    """A kiosk that enrollment made: identity layer with the county anchor."""
    base = configured(data_dir, uplink=uplink or {})
    folder = config_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    identity = {
        "device": {
            "county": "330100",
            "device_id": device,
            "township": township,
            "service_point": f"{township}服务点",
        },
        "certificate": {"trust_anchors": [COUNTY_KEY.public_b64]},
    }
    (folder / IDENTITY_FILE).write_text(json.dumps(identity, ensure_ascii=False))
    assert effective_config(base).device.device_id == device
    return base


def headless_listener(config: KioskConfig) -> tuple[ProvisioningListener, Store]:
    """A kiosk's provisioning listener without hardware; close the store after ``stop()``."""
    store = Store(config.paths.database)
    manager = ConfigManager(config, store, AuditLog(store, now), now)
    listener = ProvisioningListener(
        manager,
        lambda _store: HardwareDirect(None, lambda: None),
        now,
        versions=lambda: {"software": "test", "config": manager.applied_version()},
    )
    return listener, store
