"""The regulators' dashboard in a real headless Chromium: every page renders over a
county with kiosks, certificates, tests, holds, alarms and check-ins; the charts are
drawn by the vendored ECharts; alarms are acknowledged and audited; exports are
formula-safe."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from support.web import (  # noqa: F401  (fixtures)
    NOW,
    County,
    browser,
    browser_login,
    county_web,
    csrf_of,
    login,
    screenshot,
    submit,
)
from support.web import add_account as add

from station.db import Database, DeviceState, IntakeAlarm
from station.web import dashboard
from station.web.auth import Role
from station.web.i18n import EN
from wire import events

PAGES = [
    ("/admin/", "overview", ["chart-per-day", "chart-townships"]),
    ("/admin/fleet", "fleet", ["chart-map"]),
    ("/admin/certificates", "certificates", ["chart-per-day", "chart-products"]),
    ("/admin/tests", "tests", ["chart-methods"]),
    ("/admin/holds", "holds", []),
    ("/admin/markets", "markets", ["chart-checkins"]),
    ("/admin/alarms", "alarms", []),
    ("/admin/kiosk/K001", "kiosk", []),
    ("/admin/certificate/330100-K001-0000001", "certificate", []),
    ("/admin/producer?key=tel:13812345678", "producer", []),
    ("/admin/accounts", "accounts", []),
    ("/admin/audit", "audit", []),
]


def populate(county: County) -> None:
    """Two townships, three kiosks, two weeks of certificates, tests, a hold, alarms."""
    county.kiosk("K001", "示范镇")
    county.kiosk("K002", "青山镇")
    county.kiosk("K003", "青山镇")
    products = [("V001", "青菜"), ("V002", "大白菜"), ("F001", "草莓")]
    n = {"K001": 0, "K002": 0, "K003": 0}
    for day in range(14):
        for device in n:
            for k in range(1 + (day * 7 + len(device)) % 4):
                n[device] += 1
                county.certificate(
                    device, n[device], issued_at=NOW - timedelta(days=day, hours=1 + k),
                    product=products[(day + k) % 3], phone=f"1381234{5670 + k:04d}",
                )  # fmt: skip
    county.void("K001", 1, '=HYPERLINK("http://evil","点我")')
    for t in range(30):
        device = ["K001", "K002", "K003"][t % 3]
        county.store(device, events.rapidtest_result(
            test_id=f"T{t}", sample_id=f"S{t}", producer_key="tel:13812345678",
            product_code="V001", method=["GB/T5009.199", "胶体金"][t % 2],
            analyte="organophosphate", channel=1,
            verdict="positive" if t % 7 == 0 else "negative", value=12.0, unit="%",
            retest_of=f"T{t - 3}" if t % 7 == 0 and t else None,
            started_at=(NOW - timedelta(days=t % 10)).isoformat(),
            finished_at=(NOW - timedelta(days=t % 10)).isoformat(), raw_ref=None,
        ))  # fmt: skip
    county.hold("K001", 1)
    county.store("K002", events.alarm_raised(code="paper_out", severity="warning",
                                             message="标签纸用完", detail={}))  # fmt: skip
    county.store("K003", events.alarm_raised(code="printer_offline", severity="critical",
                                             message="打印机离线", detail={}))  # fmt: skip
    county.store("K003", events.alarm_cleared(code="printer_offline"))
    county.db.store_batch([], [], [
        DeviceState("330100", d, "online", "0.1.0", "3", b, NOW.isoformat())
        for d, b in (("K001", 0), ("K002", 12), ("K003", 0))
    ])  # fmt: skip


@pytest.fixture
def populated(county_web):  # noqa: F811
    county, server, clock = county_web
    populate(county)
    add(server, "chen", Role.ADMIN)
    add(server, "wang", Role.OFFICER)
    add(server, "zhao", Role.VIEWER)
    add(server, "li", Role.INSPECTOR, market="城东农贸市场")
    with httpx.Client(base_url=server.url) as client:
        login(client, "li")
        for n in (1, 2, 3):
            qr_path = "/V/" + county.certificate("K002", 100 + n).rsplit("/", 1)[1]
            client.post(qr_path + "/checkin", data={"csrf": csrf_of(client.get(qr_path).text)})
    return county, server, clock


def test_every_dashboard_page_renders_with_its_charts(populated, browser) -> None:  # noqa: F811
    _county, server, _clock = populated
    browser_login(browser, server, "chen")
    for path, name, charts in PAGES:
        browser.set_window_size(1400, 900)
        browser.get(server.url + path)
        assert "AgriQS" in browser.title, path
        for chart in charts:
            element = browser.find_element(By.ID, chart)
            assert element.get_attribute("data-drawn") == "1", f"{path}: {chart} not drawn"
            assert element.find_elements(By.TAG_NAME, "canvas"), f"{path}: {chart} no canvas"
        screenshot(browser, f"admin-{name}", width=1400)
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert logs == [], logs


def test_the_figures_match_the_store(populated) -> None:
    _county, server, _clock = populated
    with httpx.Client(base_url=server.url) as client:
        login(client, "wang")
        page = client.get("/admin/certificates?from=2026-11-15&to=2026-11-28").text
        with Database(server.config.database.url) as db:
            total = db.query("SELECT count(*) FROM certificates WHERE day >= '2026-11-15'")[0][0]
        assert f"{total} 开具张数" in page
        fleet = client.get("/admin/fleet").text
        assert "paper_out" in fleet and "printer_offline" not in fleet  # cleared
        tests = client.get("/admin/tests").text
        assert "GB/T5009.199" in tests and "胶体金" in tests
        markets = client.get("/admin/markets").text
        assert "城东农贸市场" in markets


def test_an_officer_acknowledges_an_alarm_and_it_is_audited(populated, browser) -> None:  # noqa: F811
    _county, server, _clock = populated
    browser_login(browser, server, "wang", next_path="/admin/alarms")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "button.ack").click)
    assert "已确认 (wang)" in browser.find_element(By.ID, "alarms").text
    with Database(server.config.database.url) as db:
        assert db.query("SELECT acked_by FROM alarm_acks") == [("wang",)]
        actions = [r[0] for r in db.query("SELECT action FROM web_audit WHERE username='wang'")]
    assert "alarm_ack" in actions and "login" in actions


def test_the_collectors_intake_alarms_show_on_the_alarms_page(populated) -> None:
    _county, server, _clock = populated
    with Database(server.config.database.url) as db:
        db.store(
            [],
            alarms=[
                IntakeAlarm("330100", "K001", "intake_flood", "flood", 49_900),
                IntakeAlarm("999999", "K009", "intake_rate", "other county", 5),
            ],
        )
    with httpx.Client(base_url=server.url) as client:
        login(client, "wang")
        page = client.get("/admin/alarms").text
    section = page.split('id="intake-alarms"', 1)[1]
    assert "intake_flood" in section and "49900" in section and "无效消息过多" in section
    assert "K009" not in section  # another county's collector alarm is not this county's


def test_exports_are_formula_safe_and_audited(populated) -> None:
    _county, server, _clock = populated
    with httpx.Client(base_url=server.url) as client:
        login(client, "wang")
        csv_text = client.get("/admin/export/holds.csv").content.decode("utf-8-sig")
        xlsx = client.get("/admin/export/certificates.xlsx?from=2026-11-01&to=2026-11-28")
    assert "tel:13812345678" in csv_text
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "日期" and len(rows) > 10
    with Database(server.config.database.url) as db:
        exports = db.query("SELECT target FROM web_audit WHERE action = 'export'")
    assert sorted(r[0] for r in exports) == ["certificates", "holds"]


def test_a_formula_in_kiosk_text_stays_text() -> None:
    from station.web.exports import to_csv, to_xlsx

    evil = ['=HYPERLINK("http://evil","点我")', "+1+1", "-2", "@SUM(A1)", "\t=1", "正常"]
    text = to_csv(["a"], [[v] for v in evil]).decode("utf-8-sig")
    for line in text.splitlines()[1:-1]:
        assert line.lstrip('"').startswith("'"), line
    assert text.splitlines()[-1] == "正常"
    book = load_workbook(io.BytesIO(to_xlsx("t", ["a"], [[v] for v in evil])))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells[:-1]] == ["'" + v for v in evil[:-1]]


def test_the_english_dashboard_has_no_untranslated_labels(populated, browser) -> None:  # noqa: F811
    _county, server, _clock = populated
    browser_login(browser, server, "chen")
    browser.get(server.url + "/admin/?lang=en")
    nav = browser.find_element(By.TAG_NAME, "nav").text
    for chinese in ("总览", "终端", "合格证", "快检", "告警"):
        assert chinese not in nav
        assert EN[chinese] in nav
    screenshot(browser, "admin-overview-en", width=1400)
    browser.get(server.url + "/admin/?lang=zh-CN")


def test_the_tests_table_shows_positives_first_and_the_rest_on_request(
    populated, monkeypatch
) -> None:
    """Two years of a county are ~2,700 township x method x product rows: the page shows
    the first rows, confirmed and first positives on top, and every row on 全部显示."""
    _county, server, _clock = populated
    monkeypatch.setattr(dashboard, "TESTS_SHOWN", 1)
    with httpx.Client(base_url=server.url) as client:
        login(client, "wang")
        page = client.get("/admin/tests").text
        everything = client.get("/admin/tests?all=1").text

    def rows(html: str) -> list[list[str]]:
        table = html.split('id="tests"', 1)[1].split("</table>", 1)[0]
        return [re.findall(r"<td>(.*?)</td>", tr) for tr in table.split("<tr>")[2:]]

    shown, every = rows(page), rows(everything)
    assert len(shown) == 1 and len(every) > 1
    positives = [int(r[4]) for r in every]
    assert positives[0] == max(positives) and shown[0] == every[0]
    assert "全部显示" in page and "全部显示" not in everything
