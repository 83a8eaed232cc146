"""Market check-in (合格证查验) in a real browser: an inspector logs in on the phone,
presses 登记查验 on the scan page, the scan desk records a USB scanner's scans, 无证反馈
stores a cleaned photo, and the statistics count it all, per market only."""

from __future__ import annotations

import io

import httpx
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from support.web import add_account as add
from support.web import (  # noqa: F401  (fixtures)
    browser,
    browser_login,
    county_web,
    csrf_of,
    login,
    screenshot,
    submit,
)

from station.db import Database
from station.web.auth import Role
from station.web.market import clean_photo

PHONE = 390


def test_inspector_checks_in_from_the_scan_page_and_sees_the_statistics(county_web, browser):  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    good = county.certificate("K001", 1)
    voided = county.certificate("K001", 2)
    county.void("K001", 2)
    add(server, "li", Role.INSPECTOR, market="城东农贸市场")
    browser.set_window_size(PHONE, 900)
    browser_login(browser, server, "li", next_path="/V/" + good.rsplit("/", 1)[1])
    # Back on the scan page, logged in: one big button.
    button = browser.find_element(By.ID, "checkin")
    assert button.text == "登记查验"
    screenshot(browser, "scan-inspector-phone", width=PHONE)
    submit(browser, button.click)
    assert browser.find_element(By.ID, "checked").text == "已登记查验"
    browser.get(server.scan_url(voided))
    submit(browser, browser.find_element(By.ID, "checkin").click)
    browser.get(server.url + "/market/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#stats tr")
    cells = [c.text for c in rows[1].find_elements(By.TAG_NAME, "td")]
    assert cells[1:] == ["2", "1", "1", "0"]  # checked, valid, invalid, without
    screenshot(browser, "market-home-phone", width=PHONE)
    with Database(server.config.database.url) as db:
        got = db.query("SELECT number, status, valid, mode FROM checkins ORDER BY id")
    assert got == [
        ("330100-K001-0000001", "valid", 1, "phone"),
        ("330100-K001-0000002", "voided", 0, "phone"),
    ]


def test_the_scan_desk_records_each_scan_without_a_tap(county_web, browser):  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    codes = [county.certificate("K001", n) for n in (1, 2, 3)]
    add(server, "gate", Role.INSPECTOR, market="城东农贸市场")
    browser_login(browser, server, "gate", next_path="/market/desk")
    for code in codes:
        field = browser.find_element(By.ID, "code")
        # A keyboard-wedge scanner types the QR text and Enter, into the focused field.
        assert browser.switch_to.active_element == field
        submit(browser, lambda f=field, c=code: f.send_keys(c + Keys.ENTER))
        assert browser.find_element(By.ID, "status").get_attribute("data-status") == "valid"
    screenshot(browser, "market-desk", width=800)
    with Database(server.config.database.url) as db:
        assert db.query("SELECT count(*), min(mode) FROM checkins")[0] == (3, "desk")


def test_uncertified_report_with_a_photo_loses_its_exif(county_web, browser, tmp_path):  # noqa: F811
    _county, server, _clock = county_web
    add(server, "li", Role.INSPECTOR, market="城东农贸市场")
    photo = tmp_path / "produce.jpg"
    image = Image.new("RGB", (3000, 2000), (30, 160, 60))
    exif = Image.Exif()
    exif[0x8825] = {2: (30.0, 16.0, 0.0)}  # GPSInfo: a place the county need not know
    exif[0x0110] = "PhoneModel X"
    image.save(photo, "JPEG", exif=exif)
    browser.set_window_size(PHONE, 900)
    browser_login(browser, server, "li", next_path="/market/uncertified")
    browser.find_element(By.NAME, "product").send_keys("韭菜")
    browser.find_element(By.NAME, "quantity").send_keys("30公斤")
    browser.find_element(By.NAME, "supplier").send_keys("外地客商")
    browser.find_element(By.NAME, "photo").send_keys(str(photo))
    submit(browser, browser.find_element(By.ID, "submit").click)
    assert browser.find_element(By.ID, "saved").is_displayed()
    screenshot(browser, "market-uncertified-phone", width=PHONE)
    with Database(server.config.database.url) as db:
        (product, stored), = db.query("SELECT product, photo FROM uncertified_reports")  # fmt: skip
    assert product == "韭菜"
    kept = Image.open(io.BytesIO(bytes(stored)))
    assert max(kept.size) == 1280
    assert not kept.getexif()
    browser.get(server.url + "/market/")
    cells = browser.find_elements(By.CSS_SELECTOR, "#stats tr")[1].find_elements(By.TAG_NAME, "td")
    assert cells[4].text == "1"


def test_a_market_account_sees_only_its_own_market(county_web):  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    add(server, "east", Role.INSPECTOR, market="城东农贸市场")
    add(server, "west", Role.INSPECTOR, market="城西农贸市场")
    with httpx.Client(base_url=server.url) as east:
        login(east, "east")
        page = east.get("/V/" + qr.rsplit("/", 1)[1])
        east.post("/V/" + qr.rsplit("/", 1)[1] + "/checkin", data={"csrf": csrf_of(page.text)})
        with Database(server.config.database.url) as db:
            db.execute(
                "INSERT INTO uncertified_reports (market_id, account_id, product, quantity, "
                "supplier, photo, reported_at, day) SELECT m.id, a.id, '葱', '1', '', ?, "
                "'2026-11-28T09:00:00', '2026-11-28' FROM markets m, accounts a "
                "WHERE m.name = '城东农贸市场' AND a.username = 'east'",
                [clean_photo(_png())],
            )
            report = db.query("SELECT id FROM uncertified_reports")[0][0]
        assert east.get(f"/market/uncertified/{report}/photo").status_code == 200
    with httpx.Client(base_url=server.url) as west:
        login(west, "west")
        home = west.get("/market/")
        assert "330100-K001-0000001" not in home.text
        assert west.get(f"/market/uncertified/{report}/photo").status_code == 404
        assert west.get("/admin/markets").status_code == 403
        # The same certificate checked at a second market...
        page = west.get("/V/" + qr.rsplit("/", 1)[1])
        west.post("/V/" + qr.rsplit("/", 1)[1] + "/checkin", data={"csrf": csrf_of(page.text)})
    add(server, "county", Role.VIEWER)
    with httpx.Client(base_url=server.url) as county_staff:
        login(county_staff, "county")
        # ...is visible to the county, as is the first market's photo.
        markets = county_staff.get("/admin/markets?from=2026-11-28&to=2026-11-28").text
        several = markets[markets.index('id="several"') :]
        assert "330100-K001-0000001" in several.split("</table>")[0]
        assert county_staff.get(f"/market/uncertified/{report}/photo").status_code == 200


def test_not_an_image_is_refused_in_plain_words(county_web):  # noqa: F811
    _county, server, _clock = county_web
    add(server, "li", Role.INSPECTOR, market="城东农贸市场")
    with httpx.Client(base_url=server.url) as client:
        login(client, "li")
        token = csrf_of(client.get("/market/uncertified").text)
        response = client.post(
            "/market/uncertified",
            data={"csrf": token, "product": "葱", "quantity": "1"},
            files={"photo": ("x.jpg", b"MZ\x90\x00 not a picture", "image/jpeg")},
        )
    assert response.status_code == 400
    assert "上传的文件不是图片" in response.text
    with Database(server.config.database.url) as db:
        assert db.query("SELECT count(*) FROM uncertified_reports")[0][0] == 0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(out, "PNG")
    return out.getvalue()
