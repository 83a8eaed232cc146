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
from support.enforcement import county_url  # noqa: F401  (fixture)
from support.kiosk import request, row_counts
from support.rapidtest import PRODUCER
from support.rapidtest import service as rapid_service
from support.reader import simulated_reader

from kiosk.domain.model import Basis, Issuer, Style
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


# ---- F2 a held producer's batch re-labelled through a buyer's 样式二 ----------------------


def test_a_held_producers_certificate_is_refused_as_a_buyers_source(kiosk: Kiosk) -> None:
    from support.provisioning import COUNTY_KEY, now

    from kiosk.domain.validation import InputError
    from kiosk.infra.audit import AuditLog
    from kiosk.services.county_holds import CountyHolds
    from wire.holds import CountyHold, HoldList, parse_hold_list

    grower = Issuer("张秀英", "13812345678")
    earlier = kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(100))).certificate
    other = Issuer("李四", "13912345678")
    by_county = kiosk.issuance.issue(request(issuer=other, quantity=Decimal(100))).certificate
    kiosk.holds.place("tel:13812345678", "V001", "快检确认阳性", "rapid_test")
    buyer = Issuer("王收购", "13700000000")
    before = row_counts(kiosk)
    for source in (earlier.qr_text, earlier.number):  # scanned, or typed (this kiosk's own)
        with pytest.raises(InputError) as refused:
            kiosk.issuance.issue(
                request(issuer=buyer, style=Style.BUYER, quantity=Decimal(10), sources=(source,))
            )
        assert refused.value.field == "sources" and "暂停开证" in refused.value.message
        assert "快检确认阳性" in refused.value.message
    # the county's applied hold list, by phone
    hold = CountyHold(
        hold_id="H000009", identifiers=("phone:13912345678",), product_code="V001",
        reason="抽检不合格", source="officer", placed_at=now().isoformat(), contact="监管站",
    )  # fmt: skip
    applied = CountyHolds(kiosk.store, AuditLog(kiosk.store, now), now, "K001", kiosk.holds)
    signed = HoldList("330100", 1, now(), (hold,)).sign(COUNTY_KEY)
    assert applied.apply(parse_hold_list(signed, [COUNTY_KEY.public_bytes], "330100"))
    with pytest.raises(InputError, match="抽检不合格"):
        kiosk.issuance.check_source(by_county.qr_text, "V001")
    assert row_counts(kiosk)["certificates"] == before["certificates"]
    # another product of the held producer is not held
    cabbage = kiosk.issuance.issue(request(issuer=grower, product_code="V002")).certificate
    assert kiosk.issuance.check_source(cabbage.qr_text, "V002").number == cabbage.number


def _reissue(c, n: int, source: str) -> None:  # type: ignore[no-untyped-def]
    from support.web import NOW

    from wire import events

    c.store("K001", events.certificate_issued(
        number=f"330100-K001-{n:07d}", seq=n, issued_at=NOW, template_id="2025-style2",
        style="style2", product_code="V001", product_name="青菜", quantity=Decimal(100),
        unit="公斤", origin="示范村", issuer_name="王收购", issuer_phone="13700000000",
        producer_key="tel:13700000000", basis="quality_control", inputs_used=[],
        test_ref=None, source_certificate=source, township="示范镇",
        service_point="示范镇服务点", sources=[source],
    ))  # fmt: skip


def test_a_reissue_arriving_after_the_hold_is_traced_and_scans_as_traced(county_url) -> None:  # noqa: F811
    from support.web import NOW, County

    from station import holds as county
    from station.web.scan import lookup_certificate, lookup_holds
    from station.web.store import transaction

    c = County(county_url)
    try:
        c.kiosk("K001")
        c.certificate("K001", 1, phone="13812345678")
        with transaction(c.db):
            hold_id = county.place_hold(
                c.db, "330100", identifiers=["phone:13812345678"], product_code="V001",
                reason="快检确认阳性", source="officer", placed_by="o", now=NOW,
            )  # fmt: skip
        # after the hold: a buyer's 样式二 citing the held batch, and one citing that
        _reissue(c, 2, "330100-K001-0000001")
        _reissue(c, 3, "330100-K001-0000002")
        for n in (2, 3):  # the scan page follows the sources at once
            record, _void = lookup_certificate(c.db, "330100", f"330100-K001-{n:07d}")
            assert record is not None
            found = lookup_holds(c.db, record)
            assert any(h.scope == "trace" for h in found), n
        with transaction(c.db):  # and the publisher's round records the trace
            assert county.trace_reissues(c.db, "330100") == 2
        traced = c.db.query(
            "SELECT number FROM trace_certificates WHERE hold_id = ? ORDER BY number", [hold_id]
        )
        assert [r[0] for r in traced] == [f"330100-K001-{n:07d}" for n in (1, 2, 3)]
        with transaction(c.db):
            assert county.trace_reissues(c.db, "330100") == 0
    finally:
        c.close()


# ---- F4 chained 样式二 multiplying quantity ------------------------------------------------


def test_a_buyer_cannot_chain_its_own_reissues_to_multiply_quantity(kiosk: Kiosk) -> None:
    from kiosk.domain.validation import InputError

    grower = Issuer("李四", "13912345678")
    root = kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(100))).certificate
    buyer = Issuer("王收购", "13700000000")
    other = Issuer("赵贩运", "13600000000")

    def reissue(issuer: Issuer, source: str):  # type: ignore[no-untyped-def]
        return kiosk.issuance.issue(
            request(issuer=issuer, style=Style.BUYER, quantity=Decimal(100), sources=(source,))
        ).certificate

    second = reissue(buyer, root.qr_text)
    assert second.quantity == Decimal(100)
    for source in (second.qr_text, second.number):  # #3 citing #2: another 100 kg
        with pytest.raises(InputError) as refused:
            reissue(buyer, source)
        assert refused.value.code == "own_reissue" and "自己开具" in refused.value.message
    # through another buyer and back (A -> B -> A) is the same goods certified twice
    third = reissue(other, second.qr_text)  # B really bought it from A: allowed
    assert third.sources == (second.number,)
    with pytest.raises(InputError, match="自己开具"):
        reissue(buyer, third.qr_text)
    # the grower citing its own certificate is not a re-issue either
    with pytest.raises(InputError, match="自己开具"):
        reissue(grower, root.qr_text)
    styles = [c.style for c in kiosk.issuance.list()]
    assert styles.count(Style.BUYER) == 2


# ---- F6 a county bundle lifting a national ban --------------------------------------------


def test_the_catalogue_refuses_lifting_a_ban_a_second_name_and_a_case_variant_code(
    tmp_path: Path,
) -> None:
    from support.provisioning import COUNTY_KEY, enrolled_config, now

    from kiosk.domain.catalogue import Catalogue
    from kiosk.infra.audit import AuditLog
    from kiosk.infra.store import Store
    from provisioning.configs import ConfigManager, ConfigRefused
    from wire.provisioning import make_config_bundle

    lifted = {"code": "malachite_green", "kind": "vet_drug", "name": "孔雀石绿",
              "name_en": "Malachite green", "status": "allowed"}  # fmt: skip
    twin = {**lifted, "code": "mg_dye"}  # a second, allowed 孔雀石绿
    variant = {"code": "Nitrofuran", "kind": "vet_drug", "name": "呋喃类（新）",
               "name_en": "Nitrofurans (new)", "status": "allowed"}  # fmt: skip
    for entry, why in ((lifted, "cannot be lifted"), (twin, "same name"),
                       (variant, "same code")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            Catalogue.load(extra={"inputs": [entry]})
    # still allowed: a new ban, and re-stating a ban with the county's own source
    stricter = {**lifted, "status": "banned", "source": "县农业农村局通知"}
    assert Catalogue.load(extra={"inputs": [stricter]}).inputs["malachite_green"].banned
    # the signed bundle is refused by its health check, the ban stays
    config = enrolled_config(tmp_path / "data")
    store = Store(config.paths.database)
    manager = ConfigManager(config, store, AuditLog(store, now), now)
    bundle = make_config_bundle(COUNTY_KEY, "330100", {}, 1,
                                {"catalogue": {"inputs": [lifted]}}, now())  # fmt: skip
    with pytest.raises(ConfigRefused, match="catalogue"):
        manager.apply_document(bundle)
    store.close()


# ---- F7 a 样式二 resting on a source of any age -------------------------------------------


def test_a_source_past_its_validity_is_refused_and_kiosk_verify_says_expired(
    kiosk: Kiosk, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    from datetime import timedelta

    from app.cli import EXIT_OK, EXIT_REFUSED, _verify
    from kiosk.domain.validation import InputError

    grower = Issuer("李四", "13912345678")
    old = kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(100))).certificate
    sources = kiosk.issuance.sources
    assert sources is not None and sources.valid_days == 7
    base = sources.clock
    args = argparse.Namespace(qr_text=old.qr_text, trust=None, anchor=[], json=True)
    assert _verify(args, kiosk) == EXIT_OK
    capsys.readouterr()
    sources.clock = lambda: base() + timedelta(days=6)
    assert kiosk.issuance.check_source(old.qr_text, "V001").number == old.number
    for age in (8, 400):
        sources.clock = lambda age=age: base() + timedelta(days=age)  # type: ignore[misc]
        for code in (old.qr_text, old.number):
            with pytest.raises(InputError) as refused:
                kiosk.issuance.check_source(code, "V001")
            assert refused.value.code == "expired" and "超过7天有效期" in refused.value.message
    kiosk.clock = sources.clock  # type: ignore[method-assign]
    assert _verify(args, kiosk) == EXIT_REFUSED
    shown = json.loads(capsys.readouterr().out)
    assert shown["valid"] is False and shown["reason"] == "expired"
    assert "超过7天有效期" in shown["message"]


def test_the_cli_refuses_the_banned_sample_as_the_red_team_typed_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    def kiosk_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path / "data"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    refused = kiosk_cli(
        "test", "register", "--sample", "S-MG1", "--producer", "钱七", "--phone", "13812343333",
        "--product", "A001", "--inputs", "malachite_green", "--batch-quantity", "100",
        "--batch-unit", "公斤", "--sampling-place", "塘边",
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout
    assert "孔雀石绿是国家禁用的药物" in refused.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "kiosk.db") as conn:
        rows = conn.execute("SELECT code, subject FROM alarms").fetchall()
        samples = conn.execute("SELECT count(*) FROM rapid_samples").fetchone()[0]
    conn.close()
    assert rows == [("banned_input_declared", "tel:13812343333/A001")] and samples == 0
