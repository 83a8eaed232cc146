"""County-wide holds on the dashboard, in a real headless Chromium: an officer places a
hold by phone (the county adds the producer's other identifiers and traces her recent
certificates), the scan page says 该批次已被追溯, a viewer cannot act, the lift needs a
reason and both are audited."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from support.enforcement import county_web_any  # noqa: F401  (fixture)
from support.web import (  # noqa: F401  (fixtures)
    NOW,
    browser,
    browser_login,
    csrf_of,
    login,
    screenshot,
    submit,
)
from support.web import add_account as add

from station import holds as county_holds
from station.db import Database
from station.web.auth import Role, audit_entries

PHONE = "13812345678"


def test_officer_places_and_lifts_a_county_hold(county_web_any, browser) -> None:  # noqa: F811
    county, server, _clock = county_web_any
    county.kiosk("K001")
    county.kiosk("K002")
    qr = county.certificate("K001", 1, phone=PHONE)
    other = county.certificate("K002", 1, phone="13900000000", issuer="李四")
    add(server, "officer-1", Role.OFFICER)
    add(server, "viewer-1", Role.VIEWER)

    browser_login(browser, server, "officer-1", "/admin/holds")
    browser.get(server.url + "/admin/holds")
    form = browser.find_element(By.ID, "place")
    form.find_element(By.NAME, "kind").send_keys("手机号")
    form.find_element(By.NAME, "value").send_keys(PHONE)
    product = form.find_element(By.NAME, "product_code")
    product.clear()
    product.send_keys("V001")
    form.find_element(By.NAME, "reason").send_keys("监督抽检毒死蜱超标")
    form.find_element(By.NAME, "contact").send_keys("县农业执法大队 0571-7654321")
    submit(browser, form.find_element(By.CSS_SELECTOR, "button").click)
    row = browser.find_element(By.ID, "hold-H000001")
    assert f"phone:{PHONE}" in row.text and "监督抽检毒死蜱超标" in row.text
    assert "执法人员决定" in row.text and "officer-1" in row.text
    screenshot(browser, "holds-county-placed")

    scan = server.scan_url(qr)
    assert httpx.get(scan + "?format=json").json()["status"] == "traced"
    assert httpx.get(server.scan_url(other) + "?format=json").json()["status"] == "valid"
    browser.get(scan)
    assert browser.find_element(By.ID, "status").text.startswith("该批次已被追溯")

    # A lift without a reason is refused; with one it is done and audited.
    browser.get(server.url + "/admin/holds")
    lift = browser.find_element(By.CSS_SELECTOR, "#hold-H000001 form.lift")
    browser.execute_script("arguments[0].removeAttribute('required')",
                           lift.find_element(By.NAME, "reason"))  # fmt: skip
    submit(browser, lift.find_element(By.CSS_SELECTOR, "button").click)
    assert "请填写解除原因" in browser.find_element(By.ID, "error").text
    lift = browser.find_element(By.CSS_SELECTOR, "#hold-H000001 form.lift")
    lift.find_element(By.NAME, "reason").send_keys("复检合格")
    submit(browser, lift.find_element(By.CSS_SELECTOR, "button").click)
    assert "H000001" in browser.find_element(By.ID, "lifted").text
    assert browser.find_elements(By.ID, "hold-H000001") == []
    assert httpx.get(scan + "?format=json").json()["status"] == "valid"

    with Database(server.config.database.url) as db:
        actions = [(r[1], r[2], r[3]) for r in audit_entries(db)]
        assert ("officer-1", "hold_place", "H000001") in actions
        assert ("officer-1", "hold_lift", "H000001") in actions
        (lifted,) = county_holds.recently_lifted(db, "330100", NOW.replace(year=2000))
        assert lifted.lift_reason == "复检合格" and lifted.lifted_by == "officer-1"

    # A viewer sees the list but no form, and a forged POST is refused.
    with httpx.Client(base_url=server.url) as client:
        login(client, "viewer-1")
        page = client.get("/admin/holds")
        assert page.status_code == 200 and 'id="place"' not in page.text
        token = csrf_of(client.get("/admin/").text) if 'name="csrf"' in page.text else ""
        answer = client.post("/admin/holds/place", data={"csrf": token, "kind": "phone",
                             "value": PHONE, "reason": "x", "product_code": "*"})  # fmt: skip
        assert answer.status_code in (403, 400)
    with Database(server.config.database.url) as db:
        assert county_holds.open_holds(db, "330100") == []
