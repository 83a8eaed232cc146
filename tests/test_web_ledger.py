"""The producer ledger in a real headless Chromium: records from the kiosks' certificates
and a roster import, duplicates found by a shared phone, an officer's audited merge, and
a county hold by 主体码 that then reaches the identifiers the merge joined."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from support.enforcement import county_web_any  # noqa: F401  (fixture)
from support.web import add_account as add
from support.web import (  # noqa: F401  (fixtures)
    browser,
    browser_login,
    csrf_of,
    login,
    screenshot,
    submit,
)
from test_web_sampling import PHONE, issued

from station import holds as county_holds
from station.db import Database
from station.web.auth import Role, audit_entries
from station.web.store import transaction

ROSTER = (
    "名称,类型,乡镇,产品,手机号,主体码,身份证号\n"
    f"张秀英,家庭农场,示范镇,青菜,{PHONE},ZT3301000001,330102198001011234\n"
    "绿源蔬菜专业合作社,合作社,青山镇,青菜,13600000000,ZT3301000002,\n"
)


def test_ledger_finds_duplicates_merges_and_widens_holds(county_web_any, browser) -> None:  # noqa: F811
    county, server, clock = county_web_any
    county.kiosk("K001", "示范镇")
    county.kiosk("K002", "青山镇")
    county.store("K001", issued("330100-K001-0000001", f"tel:{PHONE}", PHONE, "张秀英"))
    county.store("K002", issued("330100-K002-0000001", "K002-P000001", PHONE, "张秀英"))
    add(server, "officer-1", Role.OFFICER)
    with httpx.Client(base_url=server.url) as client:
        login(client, "officer-1")
        token = csrf_of(client.get("/admin/ledger").text)
        synced = client.post("/admin/ledger", data={"csrf": token, "action": "sync"})
        # One record: her walk-in key is her phone, which her K002 card printed too.
        assert "从合格证新增1个主体" in synced.text
        again = client.post("/admin/ledger", data={"csrf": token, "action": "sync"})
        assert "从合格证新增0个主体" in again.text
        bad = client.post("/admin/ledger", data={"csrf": token, "action": "import"},
                          files={"file": ("r.csv", "名称,类型\n王五,个体\n".encode())})  # fmt: skip
        assert bad.status_code == 400 and "第2行" in bad.text
        imported = client.post("/admin/ledger",
                               data={"csrf": token, "action": "import", "source": "national"},
                               files={"file": ("r.csv", ROSTER.encode("utf-8-sig"))})  # fmt: skip
        assert "导入2行，新增2个主体" in imported.text
        assert "330102198001011234" not in imported.text  # ID numbers are shown masked
        assert "330102********1234" in imported.text

    browser_login(browser, server, "officer-1", "/admin/ledger")
    browser.get(server.url + "/admin/ledger")
    (group,) = browser.find_elements(By.CSS_SELECTOR, "#duplicates tr.duplicate")
    assert f"phone:{PHONE}" in group.text and group.text.count("张秀英") == 2
    screenshot(browser, "ledger-duplicates")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.merge button").click)
    assert browser.find_elements(By.CSS_SELECTOR, "#duplicates tr.duplicate") == []
    assert "已并入 L0000001" in browser.find_element(By.ID, "notice").text

    with Database(server.config.database.url) as db:
        actions = [r[2] for r in audit_entries(db)]
        assert actions.count("ledger_merge") == 1 and "ledger_import" in actions
        with transaction(db):  # a hold by 主体码 alone reaches her card at K002 and her phone
            hold_id = county_holds.place_hold(
                db, "330100", identifiers=["platform_code:ZT3301000001"], product_code="V001",
                reason="监督抽检不合格", source="officer", placed_by="officer-1", now=clock(),
            )  # fmt: skip
        hold = county_holds.get_hold(db, "330100", hold_id)
        assert hold is not None
        assert {f"phone:{PHONE}", "producer_id:K002-P000001", "id_number:330102198001011234",
                "platform_code:ZT3301000001"} <= set(hold.identifiers)  # fmt: skip
        assert "phone:13600000000" not in hold.identifiers  # the cooperative is someone else
