"""Risk grades and credit: the rule table, the county computing and logging grades, and
a red / yellow / 失信 grade published by the hold publisher over a real Mosquitto changing
what a kiosk offers (its real rapid-test service on the simulated reader)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support.enforcement import county_url  # noqa: F401  (fixture)
from support.kiosk import request
from support.mqtt_broker import broker_factory  # noqa: F401  (fixture)
from support.provisioning import COUNTY_KEY, enrolled_config, headless_listener, now
from support.rapidtest import PRODUCER, service
from support.reader import simulated_reader
from support.uplink import wait_until
from support.web import County

from app.compose import open_kiosk
from kiosk.config import effective_config
from kiosk.domain.model import Basis, Issuer
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.rapidtest import SampleSlot
from station import grading, ledger
from station import holds as county_holds
from station.grading import Facts, GradingError, GradingRules, decide, load_rules
from station.web.store import transaction
from wire.clock import china_time
from wire.mqtt import BrokerSettings

PHONE = PRODUCER["phone"]
GBT = "GBT5009199"
RULES = GradingRules()


def test_the_rule_table() -> None:
    assert decide(Facts(), RULES) == ("green", [])
    assert decide(Facts(positives=1), RULES)[0] == "yellow"
    assert decide(Facts(positives=1, positives_recent=1), RULES)[0] == "red"
    assert decide(Facts(failures=1, failures_recent=1), RULES)[0] == "red"
    assert decide(Facts(banned_recent=1), RULES)[0] == "red"
    assert decide(Facts(failed_checkins=1), RULES)[0] == "green"
    assert decide(Facts(failed_checkins=2), RULES) == ("yellow", ["365天内市场查验未通过2次"])
    assert decide(Facts(positives_recent=3, decided=("green", "复检合格")), RULES)[0] == "green"
    assert decide(Facts(decided=("red", "x"), untrusted="拒不整改"), RULES)[0] == "untrusted"
    lenient = GradingRules(yellow_failed_checkins=0)
    assert decide(Facts(failed_checkins=9), lenient)[0] == "green"


def test_rules_file_refuses_unknown_keys_and_bad_values(tmp_path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[grading]\nred_days = 30\nyellow_test_days = 3\n")
    assert load_rules(path).red_days == 30 and load_rules(path).yellow_test_days == 3
    path.write_text("[grading]\nred_dayz = 30\n")
    with pytest.raises(GradingError, match="red_dayz"):
        load_rules(path)
    path.write_text('[grading]\nred_days = "30"\n')
    with pytest.raises(GradingError, match="red_days"):
        load_rules(path)


def test_county_grades_from_records_and_credit_and_logs_changes(county_url) -> None:  # noqa: F811
    c = County(county_url)
    try:
        c.kiosk("K001")
        c.certificate("K001", 1, phone=PHONE)
        c.certificate("K001", 2, phone="13900000000", issuer="李四")
        c.hold("K001", 1, phone=PHONE)
        at = now()
        with transaction(c.db):
            ledger.sync_from_certificates(c.db, "330100", at)
        rows = {r.name: r for r in grading.compute(c.db, "330100", RULES, at)}
        assert rows["张秀英"].grade == "red" and "快检确认阳性1次" in rows["张秀英"].causes[0]
        assert rows["李四"].grade == "green"
        li = rows["李四"].producer_id
        with transaction(c.db):
            grading.add_credit_event(c.db, "330100", producer_id=li, kind="失信",
                                     grade=None, reason="伪造合格证", by="officer-1",
                                     expires_at=at + timedelta(days=30), now=at)  # fmt: skip
        rows = {r.name: r for r in grading.compute(c.db, "330100", RULES, at)}
        assert rows["李四"].grade == "untrusted"
        later = {r.name: r for r in grading.compute(c.db, "330100", RULES, at + timedelta(days=31))}
        assert later["李四"].grade == "green"  # the record expired
        changes = c.db.query("SELECT producer_id, old_grade, new_grade FROM grade_changes "
                             "ORDER BY id")  # fmt: skip
        assert [(o, n) for _, o, n in changes] == [("green", "red"), ("green", "untrusted"),
                                                   ("untrusted", "green")]  # fmt: skip
        pushed = grading.pushed(list(rows.values()), RULES)
        assert {g.grade for g in pushed} == {"red", "untrusted"}
        with pytest.raises(GradingError), transaction(c.db):
            grading.add_credit_event(c.db, "330100", producer_id="L9999999", kind="失信",
                                     grade=None, reason="x", by="o", expires_at=None,
                                     now=at)  # fmt: skip
    finally:
        c.close()


def test_a_red_grade_changes_what_the_kiosk_offers(tmp_path, broker_factory) -> None:  # noqa: F811
    broker = broker_factory()
    config = enrolled_config(tmp_path / "kiosk", uplink={"host": "127.0.0.1", "port": broker.port})
    kiosk = open_kiosk(effective_config(config))
    listener, store = headless_listener(config)
    store_url = str(tmp_path / "county.db")
    c = County(store_url)
    publisher = county_holds.HoldPublisher(
        store_url, "330100", COUNTY_KEY,
        BrokerSettings("127.0.0.1", broker.port, client_id="county-330100-holds"),
        china_time, rules=RULES, grade_interval_s=0,
    )  # fmt: skip
    her, walk_in = Issuer("张秀英", PHONE), request()
    try:
        listener.start()
        assert listener.wait_connected(10)
        assert kiosk.issuance.offered_bases(her) == set(Basis)
        # The county: her certificate and a confirmed positive at another kiosk -> red.
        c.kiosk("K005")
        c.certificate("K005", 1, phone=PHONE)
        c.hold("K005", 1, phone=PHONE, product_code="V003")
        with transaction(c.db):
            ledger.sync_from_certificates(c.db, "330100", now())
        publisher.sync_once()
        wait_until(lambda: kiosk.issuance.offered_bases(her) != set(Basis), 10, "the grade")
        assert kiosk.issuance.offered_bases(her) == {Basis.SELF_TEST, Basis.COMMISSIONED_TEST}
        with pytest.raises(IssuanceRefused) as refused:
            kiosk.issuance.check(walk_in)  # 质量安全控制符合要求: not for a red producer
        assert refused.value.code == "county_grade" and "红色" in refused.value.message
        assert kiosk.issuance.check(walk_in, basis_chosen=False)  # the early probe passes
        # A same-day negative test of hers makes 自行检测合格 possible.
        with simulated_reader(tmp_path / "reader") as reader:
            svc = service(kiosk, reader)
            svc.register_sample("S-9", product_code="V001", inputs_used=["organophosphate"],
                                batch_quantity="100", **PRODUCER)  # fmt: skip
            reader.controls.load_enzyme_sample(1, inhibitor=0.0)
            (result,) = svc.run_enzyme(GBT, [SampleSlot("S-9", 1)]).results
        assert result.verdict == "negative"
        kiosk.issuance.evidence = svc.evidence
        assert kiosk.issuance.check(request(basis=Basis.SELF_TEST, test_ref=result.test_id))
        store.conn.execute("UPDATE rapid_results SET finished_at = ? WHERE test_id = ?",
                           [(now() - timedelta(days=1)).isoformat(), result.test_id])  # fmt: skip
        with pytest.raises(IssuanceRefused, match="当天"):
            kiosk.issuance.check(request(basis=Basis.SELF_TEST, test_ref=result.test_id))
        # An officer's 失信 record: refused outright, even before a basis is chosen.
        (producer,) = [p for p in ledger.producers(c.db, "330100") if p.name == "张秀英"]
        with transaction(c.db):
            grading.add_credit_event(c.db, "330100", producer_id=producer.producer_id,
                                     kind="失信", grade=None, reason="拒不召回问题产品",
                                     expires_at=None, by="officer-1", now=now())  # fmt: skip
        publisher.sync_once()
        wait_until(lambda: kiosk.issuance.offered_bases(her) == set(), 10, "the 失信 record")
        with pytest.raises(IssuanceRefused, match="失信名单"):
            kiosk.issuance.check(walk_in, basis_chosen=False)
        applied = json.loads(json.dumps([r[0] for r in store.conn.execute(
            "SELECT grade FROM county_grades").fetchall()]))  # fmt: skip
        assert applied == ["untrusted"]
    finally:
        publisher.stop()
        listener.stop()
        store.close()
        kiosk.close()
        c.close()


def test_the_example_rules_file_is_the_defaults() -> None:
    from pathlib import Path

    example = Path(__file__).parents[1] / "docs" / "deploy" / "station" / "grading.example.toml"
    assert load_rules(example) == GradingRules()
