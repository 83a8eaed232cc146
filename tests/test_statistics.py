"""County statistics per month and year: certificates, tonnage, coverage of the ledger,
rapid tests against 2 batches per 1,000 people, official samples, problem products
dealt with; the page and its export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from support.enforcement import county_url, county_web_any  # noqa: F401  (fixtures)
from support.web import NOW, County, login
from support.web import add_account as add

from station import holds as county_holds
from station import ledger, statistics
from station.web.auth import Role
from station.web.store import transaction
from wire import events


def populate(c: County) -> None:
    c.kiosk("K001", "示范镇")
    c.kiosk("K002", "青山镇")
    c.certificate("K001", 1, phone="13812345678", quantity="500")
    c.certificate("K001", 2, phone="13812345678", quantity="1500")
    c.certificate("K002", 1, phone="13900000000", quantity="20", issuer="李四")
    c.certificate("K002", 2, phone="13700000000", issued_at=NOW - timedelta(days=60),
                  issuer="王五")  # fmt: skip
    # T3 re-tests sample S2 (the same sample, another portion)
    for n, verdict, retest in ((1, "negative", None), (2, "suspicious", None),
                               (3, "positive", "T2")):  # fmt: skip
        c.store("K001", events.rapidtest_result(
            test_id=f"T{n}", sample_id=f"S{min(n, 2)}", producer_key="tel:13812345678",
            product_code="V001", method="GB/T5009.199", analyte="organophosphate", channel=1,
            verdict=verdict, value=12.0, unit="%", retest_of=retest,
            started_at=NOW.isoformat(), finished_at=NOW.isoformat(), raw_ref=None,
        ))  # fmt: skip
    with transaction(c.db):
        ledger.sync_from_certificates(c.db, "330100", NOW)
        for hold in range(2):
            county_holds.place_hold(c.db, "330100", identifiers=[f"phone:1381234567{hold}"],
                                    product_code="V001", reason="抽检不合格", source="officer",
                                    placed_by="o", now=NOW)  # fmt: skip
        county_holds.lift_hold(c.db, "330100", "H000001", "o", "已整改", NOW)


def test_month_and_year_figures(county_url) -> None:  # noqa: F811
    c = County(county_url)
    try:
        populate(c)
        month = statistics.Period.parse(NOW.strftime("%Y-%m"))
        stats = statistics.compute(c.db, "330100", month, {"示范镇": 1000, "青山镇": 30000})
        town = {r.township: r for r in stats.townships}
        assert (town["示范镇"].certificates, town["示范镇"].tonnes) == (2, 2.0)
        assert town["示范镇"].producers == 1 and town["示范镇"].coverage == 100.0
        assert (town["示范镇"].samples, town["示范镇"].runs, town["示范镇"].positives) == (2, 3, 1)
        assert town["示范镇"].target_batches == 0.2 and town["示范镇"].target_met
        assert town["青山镇"].target_batches == 5.0 and not town["青山镇"].target_met
        assert (stats.holds_placed, stats.holds_closed, stats.closed_rate) == (2, 1, 50.0)
        year = statistics.compute(c.db, "330100", statistics.Period.parse(str(NOW.year)), {})
        assert {r.township: r.certificates for r in year.townships}["青山镇"] == 2
    finally:
        c.close()


def test_statistics_page_and_export(county_web_any) -> None:  # noqa: F811
    county, server, _clock = county_web_any
    populate(county)
    add(server, "officer-1", Role.OFFICER)
    with httpx.Client(base_url=server.url) as client:
        login(client, "officer-1")
        page = client.get("/admin/statistics", params={"period": NOW.strftime("%Y-%m")})
        assert page.status_code == 200 and 'data-township="示范镇"' in page.text
        assert "1/2 = 50.0%" in page.text
        export = client.get("/admin/statistics/export.csv", params={"period": str(NOW.year)})
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["乡镇", "开具张数", "重量(吨)"]
        assert rows[1][:2] == ["示范镇", "2"]
