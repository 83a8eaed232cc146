"""Official sampling on the dashboard, in a real headless Chromium: an officer enters a
failed sample; the county holds the producer and the trace page lists her certificates
from two kiosks, the market that checked one in and the buyer's 样式二 re-issue; the
export and the numbered notice list them too. A lab's CSV with a bad row is refused
whole, naming the row; a good one imports once."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

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
from station.web import auth
from station.web.auth import Role
from wire import events

PHONE = "13812345678"


def issued(
    number: str,
    producer_key: str,
    phone: str,
    issuer: str,
    *,
    product: tuple[str, str] = ("V001", "青菜"),
    source: str | None = None,
    township: str = "示范镇",
    hours: int = 30,
) -> events.Event:
    return events.certificate_issued(
        number=number, seq=int(number[-7:]), issued_at=NOW - timedelta(hours=hours),
        template_id="2025-style1", style="style2" if source else "style1",
        product_code=product[0], product_name=product[1], quantity=Decimal("50"), unit="公斤",
        origin="示范村", issuer_name=issuer, issuer_phone=phone, producer_key=producer_key,
        basis="quality_control", inputs_used=[], test_ref=None, source_certificate=source,
        township=township, service_point=f"{township}服务点",
    )  # fmt: skip


def populate(county) -> dict[str, str]:
    county.kiosk("K001", "示范镇")
    county.kiosk("K002", "青山镇")
    a = "330100-K001-0000001"
    b = "330100-K002-0000001"
    buyer = "330100-K002-0000002"
    county.store("K001", issued(a, f"tel:{PHONE}", PHONE, "张秀英"))
    county.store("K002", issued(b, "K002-P000001", PHONE, "张秀英", township="青山镇"))
    county.store("K002", issued(buyer, "K002-P000009", "13700000000", "王收购",
                                source=a, township="青山镇", hours=20))  # fmt: skip
    county.store("K001", issued("330100-K001-0000002", "tel:13900000000", "13900000000", "李四"))
    market = auth.add_market(county.db, "330100", "城东农贸市场", "示范镇")
    ph = auth.hasher(8192, 1, 1)
    inspector = auth.add_account(county.db, ph, "inspector-1", "x" * 12, Role.INSPECTOR,
                                 display_name="查验员", market_id=market)  # fmt: skip
    county.db.execute(
        "INSERT INTO checkins (county, number, market_id, account_id, status, valid, mode, "
        "checked_at, day) VALUES (?, ?, ?, ?, 'valid', 1, 'desk', ?, ?)",
        ["330100", a, market, inspector, (NOW - timedelta(hours=26)).isoformat(),
         (NOW - timedelta(hours=26)).date().isoformat()],
    )  # fmt: skip
    county.db.conn.commit()  # PostgreSQL: execute() alone does not commit
    return {"a": a, "b": b, "buyer": buyer}


def test_failed_sample_traces_two_kiosks_a_market_and_a_reissue(county_web_any, browser) -> None:  # noqa: F811
    county, server, _clock = county_web_any
    numbers = populate(county)
    add(server, "officer-1", Role.OFFICER)

    browser_login(browser, server, "officer-1", "/admin/samples")
    browser.get(server.url + "/admin/samples")
    form = browser.find_element(By.ID, "sample")
    values = {"sample_no": "CJ-2026-0117", "producer_name": "张秀英", "phone": PHONE,
              "product_code": "V001", "product_name": "青菜", "place": "城东农贸市场",
              "lab": "县农产品质量安全检测中心", "report_no": "R-2026-0117",
              "substance": "毒死蜱", "value": "0.31", "limit": "0.02"}  # fmt: skip
    for name, value in values.items():
        form.find_element(By.NAME, name).send_keys(value)
    date_field = form.find_element(By.NAME, "sampled_on")
    browser.execute_script("arguments[0].value = arguments[1]", date_field,
                           (NOW - timedelta(hours=24)).date().isoformat())  # fmt: skip
    form.find_element(By.NAME, "verdict").send_keys("不合格")
    submit(browser, form.find_element(By.CSS_SELECTOR, "button").click)

    # The trace page: her certificates at both kiosks, the check-in, the buyer's re-issue.
    assert "/admin/trace?hold=H000001" in browser.current_url
    table = browser.find_element(By.ID, "trace")
    rows = table.find_elements(By.CSS_SELECTOR, "tr[data-number]")
    listed = [r.get_attribute("data-number") for r in rows]
    assert listed == [numbers["a"], numbers["buyer"], numbers["b"]]
    assert browser.find_element(By.ID, "count").text == "3"
    first = table.find_element(By.CSS_SELECTOR, f"tr[data-number='{numbers['a']}']")
    assert "城东农贸市场" in first.find_element(By.CLASS_NAME, "checkins").text
    reissue = table.find_element(By.CSS_SELECTOR, "tr.depth-1")
    assert "样式二" in reissue.text and "王收购" in reissue.text
    assert "监督抽检不合格：毒死蜱 0.31mg/kg" in browser.find_element(By.ID, "hold-reason").text
    screenshot(browser, "trace-failed-sample")

    with Database(server.config.database.url) as db:
        (hold,) = county_holds.open_holds(db, "330100")
        assert hold.source == "official_sample"
        assert {f"phone:{PHONE}", "producer_id:K002-P000001"} <= set(hold.identifiers)
        # The buyer's re-issue is a different producer: not held, but traced via the chain.
        assert "producer_id:K002-P000009" not in hold.identifiers
        assert hold.traced == 3  # her two and the re-issue: each scan page says 该批次已被追溯
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    export = httpx.get(server.url + "/admin/trace/export.csv?hold=H000001", cookies=cookies)
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == [numbers["a"], numbers["buyer"], numbers["b"]]
    assert rows[1][-1].startswith("城东农贸市场")

    # The notice: numbered, dated, listing the batch and the three certificates.
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#notice button").click)
    assert browser.find_element(By.ID, "notice-no").text == f"〔{NOW.year}〕第001号"
    assert "R-2026-0117" in browser.find_element(By.ID, "batch").text
    notice_rows = browser.find_elements(By.CSS_SELECTOR, "#notice-certificates tr")
    assert len(notice_rows) == 4 and "（样式二）" in notice_rows[2].text
    screenshot(browser, "notice")


def test_sample_import_refuses_a_bad_file_whole_and_imports_a_good_one_once(county_web_any) -> None:  # noqa: F811
    county, server, _clock = county_web_any
    populate(county)
    add(server, "officer-1", Role.OFFICER)
    head = ("样品编号,受检主体,手机号,产品代码,产品名称,抽样地点,抽样日期,检测机构,报告编号,"
            "检测项目,检测值,限量,判定\n")  # fmt: skip
    place = "示范村,2026-11-27,县检测中心"
    good = (f"L-1,张秀英,13812345678,V001,青菜,{place},R-1,毒死蜱,0.31,0.02,不合格\n"
            f"L-2,李四,13900000000,V001,青菜,{place},R-2,毒死蜱,未检出,0.02,合格\n")  # fmt: skip
    bad = good + f"L-3,王五,,V001,青菜,{place},R-3,毒死蜱,0.1,0.02,不合格\n"
    with httpx.Client(base_url=server.url) as client:
        login(client, "officer-1")
        token = csrf_of(client.get("/admin/samples").text)

        def upload(text: str) -> httpx.Response:
            body = (head + text).encode("utf-8-sig")
            return client.post("/admin/samples/import", data={"csrf": token},
                               files={"file": ("lab.csv", body)})  # fmt: skip

        refused = upload(bad)
        assert refused.status_code == 400 and "第4行" in refused.text
        with Database(server.config.database.url) as db:
            assert db.query("SELECT count(*) FROM official_samples") == [(0,)]
        assert "导入2条，重复0条，不合格暂停1条" in upload(good).text
        assert "导入0条，重复2条，不合格暂停0条" in upload(good).text
    with Database(server.config.database.url) as db:
        (hold,) = county_holds.open_holds(db, "330100")
        assert hold.source == "official_sample" and hold.traced == 3
