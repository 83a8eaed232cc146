"""Helpers for kiosk tests: configs, a valid request, row counts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kiosk.config import KioskConfig, load_config
from kiosk.domain.model import Basis, CertificateRequest, Issuer
from kiosk.services.kiosk import Kiosk

ARTIFACTS = Path(__file__).parents[1] / "artifacts"


def configured(data_dir: Path, **sections: dict) -> KioskConfig:
    """The embedded simulation config with some sections' keys replaced."""
    config = load_config(None, data_dir=data_dir)
    updates = {}
    for name, values in sections.items():
        updates[name] = getattr(config, name).model_copy(update=values)
    return config.model_copy(update=updates)


def request(**overrides: object) -> CertificateRequest:
    """A valid request; tests override one field at a time."""
    values: dict = {
        "issuer": Issuer("张秀英", "13812345678"),
        "product_code": "V001",
        "quantity": Decimal("12.5"),
        "unit": "公斤",
        "origin": "浙江省杭州市示范镇示范村",
        "basis": Basis.QUALITY_CONTROL,
        "inputs_used": ("organophosphate",),
    }
    values.update(overrides)
    return CertificateRequest(**values)


def row_counts(kiosk: Kiosk) -> dict[str, int]:
    tables = ["certificates", "print_jobs", "outbox", "counters", "holds"]
    return {t: kiosk.store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
