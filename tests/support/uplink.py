"""Shared pieces of the uplink/station tests, and the schema contract tests.

Sample events for every schema are built here and validated against wire/schemas,
so the samples other tests send are known-good, and the schemas refuse bad data.
"""

from __future__ import annotations

import copy
import importlib.util
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from station.collector import CollectorSettings
from wire import events

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "wire" / "schemas"
DEPLOY = ROOT / "docs" / "deploy" / "mosquitto"
CST = timezone(timedelta(hours=8))
COUNTY = "330100"

SAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "certificate.issued": (
        "certificate",
        {
            "number": "330100-K001-0000001",
            "seq": 1,
            "issued_at": "2026-03-02T09:15:00+08:00",
            "template_id": "2025-style1",
            "style": "style1",
            "product_code": "VEG-CABBAGE",
            "product_name": "大白菜",
            "quantity": "25.5",
            "unit": "公斤",
            "origin": "示范镇东村",
            "issuer_name": "张三",
            "issuer_phone": "13800000000",
            "producer_key": "P-0001",
            "basis": "self_test",
            "inputs_used": ["I-IMIDACLOPRID"],
            "test_ref": "K001:T42",
            "source_certificate": None,
            "township": "示范镇",
            "service_point": "示范镇农产品质量安全服务点",
        },
    ),
    "certificate.reprinted": (
        "certificate",
        {"number": "330100-K001-0000001", "copies": 2, "reprint_no": 1},
    ),
    "certificate.voided": (
        "certificate",
        {"number": "330100-K001-0000001", "reason": "wrong weight"},
    ),
    "certificate.printed": ("certificate", {"number": "330100-K001-0000001", "copies": 1}),
    "hold.placed": (
        "alarm",
        {
            "hold_id": 1,
            "producer_key": "P-0001",
            "product_code": "VEG-CABBAGE",
            "reason": "enzyme positive",
            "source": "rapidtest:T42",
        },
    ),
    "hold.lifted": ("alarm", {"hold_id": 1, "lifted_by": "county:inspector-7"}),
    "alarm.raised": (
        "alarm",
        {"code": "paper_out", "severity": "warning", "message": "paper out", "detail": {}},
    ),
    "alarm.cleared": ("alarm", {"code": "paper_out"}),
    "rapidtest.result": (
        "rapidtest",
        {
            "test_id": "K001-T000042",
            "sample_id": "S42",
            "producer_key": "P-0001",
            "product_code": "VEG-CABBAGE",
            "method": "enzyme",
            "analyte": "organophosphates",
            "channel": 1,
            "verdict": "negative",
            "value": 12.5,
            "unit": "%",
            "retest_of": None,
            "started_at": "2026-03-02T09:00:00+08:00",
            "finished_at": "2026-03-02T09:03:00+08:00",
            "raw_ref": "raw/T42.json",
        },
    ),
}
SCHEMA_CYCLE = list(SAMPLES)


def fixed_clock() -> datetime:
    return datetime(2026, 3, 2, 9, 30, tzinfo=CST)


def open_kiosk(path: Path, device: str = "K001", county: str = COUNTY) -> tuple[Store, Outbox]:
    store = Store(path)
    return store, Outbox(store, county, device, fixed_clock)


def sample(schema: str, n: int, device: str = "K001") -> tuple[str, dict[str, Any]]:
    """A valid (kind, data) for ``schema``, made unique by ``n`` where it matters; numbers
    and test ids are ``device``'s own, as the county requires."""
    kind, data = SAMPLES[schema]
    data = copy.deepcopy(data)
    if schema.startswith("certificate."):
        data["number"] = f"{COUNTY}-{device}-{n:07d}"
    if schema == "certificate.issued":
        data["seq"] = n
    elif schema == "rapidtest.result":
        data["test_id"] = f"{device}-T{n:06d}"
        data["verdict"] = ["negative", "negative", "positive", "invalid"][n % 4]
    elif schema.startswith("hold."):
        data["hold_id"] = n
    return kind, data


def enqueue_many(store: Store, outbox: Outbox, count: int, *, per_tx: int = 500) -> list[str]:
    """``count`` events cycling through every schema, ``per_tx`` per transaction."""
    ids: list[str] = []
    for start in range(0, count, per_tx):
        with store.transaction():
            for n in range(start, min(count, start + per_tx)):
                schema = SCHEMA_CYCLE[n % len(SCHEMA_CYCLE)]
                _kind, data = sample(schema, n + 1, outbox.device_id)
                ids.append(outbox.enqueue(events.build(schema, data)))
    return ids


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def collector_settings(port: int, **overrides: Any) -> CollectorSettings:
    base = {"host": "127.0.0.1", "port": port, "client_id": "collector-test"}
    base.update(overrides)
    return CollectorSettings(**base)


def load_make_acl() -> Any:
    """docs/deploy/mosquitto/make_acl.py is a script, not a package module."""
    spec = importlib.util.spec_from_file_location("make_acl", DEPLOY / "make_acl.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deploy_acl(workdir: Path, accounts: str) -> Path:
    """The production ACL (acl.base + generated blocks) for ``accounts``."""
    make_acl = load_make_acl()
    workdir.mkdir(parents=True, exist_ok=True)
    text = make_acl.render_acl(
        make_acl.parse_accounts(accounts), (DEPLOY / "acl.base").read_text("utf-8")
    )
    path = workdir / "acl"
    path.write_text(text)
    return path
