"""Red-team attacks on the certificate rules (each performed, then refused).

F1 a banned input declared on a sample; F2 a held producer's batch re-labelled through a
buyer's 样式二; F4 chained 样式二 multiplying quantity; F6 a county bundle lifting a
national ban; F7 a 样式二 resting on a source of any age.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from support.kiosk import request, row_counts
from support.rapidtest import PRODUCER
from support.rapidtest import service as rapid_service
from support.reader import simulated_reader

from kiosk.domain.model import Basis
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.kiosk import Kiosk
from kiosk.services.rapidtest import SampleSlot
from kiosk.services.rapidtest_records import RapidTestError

# ---- F1 a banned input declared on a sample ------------------------------------------


def test_a_sample_declaring_a_banned_input_is_refused_alarmed_and_audited(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    svc = rapid_service(kiosk, None)
    with pytest.raises(RapidTestError) as refused:
        svc.register_sample(
            "S-MG1", producer_name="钱七", phone="13812343333", product_code="A001",
            inputs_used=["malachite_green"], batch_quantity="100", batch_unit="公斤",
            sampling_place="塘边",
        )  # fmt: skip
    assert refused.value.code == "banned_input"
    assert "孔雀石绿" in refused.value.message and "禁用" in refused.value.message
    assert kiosk.store.conn.execute("SELECT count(*) FROM rapid_samples").fetchone()[0] == 0
    (alarm,) = [a for a in kiosk.alarms.open() if a.code == "banned_input_declared"]
    assert alarm.severity == "critical"
    assert alarm.detail["producer_key"] == "tel:13812343333"
    assert alarm.detail["product_code"] == "A001" and alarm.detail["inputs"] == ["malachite_green"]
    (entry,) = [e for e in kiosk.audit.entries() if e.kind == "sample.refused"]
    assert entry.data["reason"] == "banned_input"
    assert kiosk.audit.verify().ok


def test_a_test_on_a_sample_stored_with_a_banned_input_backs_no_certificate(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    with simulated_reader(tmp_path / "reader") as reader:
        svc = rapid_service(kiosk, reader)
        kiosk.issuance.evidence = svc.evidence
        svc.register_sample(
            "S-MG2", product_code="V001", inputs_used=["organophosphate"],
            batch_quantity="100", sampling_place="田间", **PRODUCER,
        )  # fmt: skip
        reader.controls.load_enzyme_sample(1, inhibitor=0.0)
        (neg,) = svc.run_enzyme("GBT5009199", [SampleSlot("S-MG2", 1)]).results
    assert neg.verdict == "negative"
    # a sample stored before the rule (or written by another path) declares the banned one
    with kiosk.store.transaction():
        kiosk.store.conn.execute(
            "UPDATE rapid_samples SET inputs_used = ? WHERE sample_id = 'S-MG2'",
            [json.dumps(["organophosphate", "malachite_green"])],
        )
    before = row_counts(kiosk)
    based = {"basis": Basis.SELF_TEST, "test_ref": neg.test_id, "quantity": Decimal(10)}
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request(inputs_used=("organophosphate",), **based))
    assert refused.value.code == "banned_input" and "孔雀石绿" in refused.value.message
    assert row_counts(kiosk)["certificates"] == before["certificates"]
    (alarm,) = [a for a in kiosk.alarms.open() if a.code == "banned_input_declared"]
    assert alarm.detail["inputs"] == ["malachite_green"]
