"""Certificates that cannot lie (issue 14): banned inputs, and the rules that follow.

Each rule is tried as a township official would: through the service, the real CLI
and the touch UI driver, with the county's collector listening on a real broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.kiosk import request, row_counts
from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.uplink import collector_settings, wait_until

from app.compose import hardware_desk
from kiosk.domain.model import Issuer
from kiosk.infra.numbering import COUNTER
from kiosk.infra.uplink import Uplink, UplinkSettings
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.kiosk import Kiosk
from station.collector import Collector
from station.db import Database
from ui.loop import App
from ui.screens.common import MessageScreen
from ui.screens.farmer import InputsScreen, QuantityScreen
from ui.testing import Driver

BANNED_CODES = {"malachite_green", "nitrofuran", "sedative", "fipronil", "beta_agonist",
                "chloramphenicol"}  # fmt: skip


def kiosk_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---- 1. banned substances -----------------------------------------------------------


def test_the_catalogue_marks_banned_inputs_with_their_legal_source(kiosk: Kiosk) -> None:
    banned = {i.code: i for i in kiosk.catalogue.inputs.values() if i.banned}
    assert set(banned) == BANNED_CODES
    assert "第250号" in banned["malachite_green"].source
    assert "第1157号" in banned["fipronil"].source
    assert "地西泮" in banned["sedative"].source
    offered = {i.code for i in kiosk.catalogue.declarable_inputs()}
    assert not offered & BANNED_CODES and "organophosphate" in offered


def test_a_declared_banned_input_is_refused_alarmed_and_audited(kiosk: Kiosk) -> None:
    before = row_counts(kiosk)
    floor = kiosk.numbers.read_floor()
    numbered = kiosk.store.counter(COUNTER)
    issuer = Issuer("李四", "13912345678")
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(
            request(
                issuer=issuer, product_code="E001", inputs_used=("malachite_green", "nitrofuran")
            )
        )
    assert refused.value.code == "banned_input"
    assert "孔雀石绿" in refused.value.message and "不能开具合格证" in refused.value.message
    assert "banned" in refused.value.message_en and "Malachite green" in refused.value.message_en
    after = row_counts(kiosk)
    # nothing issued, no number spent, nothing printed: only the alarm went out
    for table in ("certificates", "print_jobs", "holds"):
        assert after[table] == before[table], table
    assert after["outbox"] == before["outbox"] + 1
    assert kiosk.numbers.read_floor() == floor and kiosk.store.counter(COUNTER) == numbered
    assert kiosk.printer.simulated_device.label_count == 0
    (alarm,) = kiosk.alarms.open()
    assert alarm.code == "banned_input_declared" and alarm.severity == "critical"
    assert alarm.detail["producer_key"] == "tel:13912345678"
    assert alarm.detail["product_code"] == "E001"
    assert alarm.detail["inputs"] == ["malachite_green", "nitrofuran"]
    (entry,) = [e for e in kiosk.audit.entries() if e.kind == "certificate.refused"]
    assert entry.data["reason"] == "banned_input" and entry.data["product_code"] == "E001"
    assert kiosk.audit.verify().ok
    # the preview refuses too (the touch UI asks it before the confirm screen)
    with pytest.raises(IssuanceRefused):
        kiosk.issuance.preview(request(product_code="A001", inputs_used=("malachite_green",)))


def test_the_touch_ui_never_offers_a_banned_input(kiosk: Kiosk) -> None:
    app = App(kiosk, hardware_desk(kiosk), size=(1024, 600), dpi=170, audio=False)
    ui = Driver(app)
    try:
        farmer = app.producers.register("张秀英", "13812345678", "示范村", "2580")
        ui.scan(farmer.card_code)
        ui.tap("new")
        ui.tap("category_aquatic")
        ui.tap("product_A001")
        assert ui.on(QuantityScreen)
        ui.type_digits("20")
        ui.tap("ok")
        assert ui.on(InputsScreen)
        keys = set()
        screen = app.top
        assert isinstance(screen, InputsScreen)
        keys = {o.key for o in screen.options()}
        assert "input_fluoroquinolone" in keys
        assert not {f"input_{c}" for c in BANNED_CODES} & keys
        # a repeated session that carries a banned input from an old record is refused
        app.session.inputs = ("malachite_green",)
        screen.chosen = ["malachite_green"]
        screen.done()
        ui.settle()
        assert ui.on(MessageScreen)
        assert "禁用" in " ".join(ui.texts())
        assert kiosk.issuance.list() == []
    finally:
        app.close()


def test_cli_refusal_reaches_a_real_collector(tmp_path: Path, broker_factory) -> None:  # noqa: F811
    data = tmp_path / "data"
    args = [
        "issue", "--issuer", "王建国", "--phone", "13912345678", "--product", "鸡蛋",
        "--quantity", "30", "--origin", "四川省巴中市巴州区清江镇", "--inputs",
        "malachite_green,nitrofuran",
    ]  # fmt: skip
    refused = kiosk_cli(data, *args)
    assert refused.returncode == 1, refused.stdout
    assert "禁用" in refused.stderr and "banned by law" in refused.stderr
    listing = kiosk_cli(data, "certificates", "list", "--json")
    assert json.loads(listing.stdout) == []

    broker = broker_factory()
    station_db = tmp_path / "station.db"
    with Collector(collector_settings(broker.port), station_db) as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        settings = UplinkSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.1,
                                  reconnect_max_s=0.5, poll_interval_s=0.2)  # fmt: skip
        with Uplink(settings, data / "kiosk.db", "330100", "K001") as uplink:
            assert uplink.wait_drained(20), uplink.stats()
            wait_until(lambda: collector.stats().stored >= 1, 10, "alarm stored")
    with Database(station_db) as db:
        rows = db.query("SELECT schema_name, body FROM events")
    alarms = [json.loads(body) for schema, body in rows if schema == "alarm.raised"]
    (alarm,) = [a for a in alarms if a["data"]["code"] == "banned_input_declared"]
    detail = alarm["data"]["detail"]
    assert detail["producer_key"] == "tel:13912345678" and detail["product_code"] == "E001"
    assert detail["product_name"] == "鸡蛋" and detail["issuer_name"] == "王建国"
