"""The public scan page in a real headless Chromium, against a real server and store:
every status a label can have, the phone masked, the size budget, no script, JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from support.web import (  # noqa: F401  (fixtures)
    NOW,
    browser,
    county_web,
    forge,
    screenshot,
)

from station.web.scan import Hold, Record, Status, Void, decide, mask_phone
from wire.qr import CertificateFields
from wire.signing import SigningKey
from wire.verify import Reason, Verdict

PHONE_WIDTH = 390  # an iPhone 12-14 viewport


def status_of(driver: Any) -> tuple[str, str]:
    element = driver.find_element(By.ID, "status")
    return element.get_attribute("data-status"), element.find_element(By.TAG_NAME, "h1").text


def test_valid_certificate_shows_valid_with_the_phone_masked(county_web, browser) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    browser.set_window_size(PHONE_WIDTH, 900)
    browser.get(server.scan_url(qr))
    assert status_of(browser) == ("valid", "有效")
    assert browser.find_element(By.ID, "product").text == "青菜"
    assert browser.find_element(By.ID, "phone").text == "138****5678"
    assert "13812345678" not in browser.page_source
    assert browser.find_element(By.ID, "number").text == "330100-K001-0000001"
    screenshot(browser, "scan-valid-phone", width=PHONE_WIDTH)


def test_the_page_is_small_has_no_script_and_is_not_cached(county_web) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    response = httpx.get(server.scan_url(county.certificate("K001", 1)))
    assert response.status_code == 200
    assert len(response.content) <= 50 * 1024, len(response.content)
    assert "<script" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("voided", ("voided", "已作废")),
        ("held", ("suspended", "该主体已暂停开证")),
        ("forged", ("bad_signature", "签名无效")),
        ("unknown", ("unknown_kiosk", "未知开证点")),
        ("not_uploaded", ("not_uploaded", "签名有效，记录尚未上传")),
        ("expired", ("expired", "已过期")),
        ("revoked", ("bad_signature", "签名无效")),
    ],
)
def test_each_status_in_the_browser(case: str, expected, county_web, browser) -> None:  # noqa: F811
    county, server, clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1, upload=case != "not_uploaded")
    if case == "voided":
        county.void("K001", 1, "数量填错，重新开具")
    elif case == "held":
        county.hold("K001", 1)
    elif case == "forged":
        qr = forge(qr)
    elif case == "unknown":
        stranger = SigningKey.generate()
        county.keys["K009"] = stranger
        qr = county.certificate("K009", 1, upload=False)
    elif case == "expired":
        clock.now = NOW + timedelta(days=8)
    elif case == "revoked":
        county.revoke("K001")
    browser.set_window_size(PHONE_WIDTH, 900)
    browser.get(server.scan_url(qr))
    assert status_of(browser) == expected
    if case == "voided":
        assert "数量填错，重新开具" in browser.page_source
    if case == "held":
        assert "有机磷类农药快检确认阳性" in browser.page_source
    screenshot(browser, f"scan-{case}-phone", width=PHONE_WIDTH)


def test_a_revoked_key_reads_fresh_within_the_refresh(county_web) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    assert httpx.get(server.scan_url(qr) + "?format=json").json()["status"] == "valid"
    county.revoke("K001")
    import time

    time.sleep(server.config.verify.trust_refresh_s + 0.1)
    assert httpx.get(server.scan_url(qr) + "?format=json").json()["status"] == "bad_signature"


def test_json_variant_and_case_insensitive_path(county_web) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    payload = qr.rsplit("/", 1)[1]
    for url in (
        f"{server.url}/V/{payload}?format=json",
        f"{server.url}/v/{payload.lower()}?format=json",
        f"{server.url}/api/v1/verify/{payload}",
    ):
        doc = httpx.get(url).json()
        assert doc["status"] == "valid", url
        assert doc["certificate"]["phone"] == "138****5678"
        assert doc["at_county"] is True
        assert doc["issuing_point"]["township"] == "示范镇"
    by_accept = httpx.get(f"{server.url}/V/{payload}", headers={"accept": "application/json"})
    assert by_accept.json()["status"] == "valid"


def test_not_a_certificate_is_404_and_says_so(county_web) -> None:  # noqa: F811
    _county, server, _clock = county_web
    for path in ("/V/HELLO", "/V/" + "A" * 3000, "/V/%3Cscript%3E"):
        response = httpx.get(server.url + path)
        assert response.status_code == 404, path
        assert "无法识别" in response.text
        assert "<script>" not in response.text


def test_the_english_page(county_web, browser) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    browser.get(server.scan_url(county.certificate("K001", 1)) + "?lang=en")
    assert status_of(browser) == ("valid", "Valid")
    assert "Product" in browser.page_source
    browser.get(server.scan_url(county.certificate("K001", 2)) + "?lang=zh-CN")


# ---- the decision, without a server -------------------------------------------------


def _fields() -> CertificateFields:
    return CertificateFields(
        number="330100-K001-0000001", product="青菜", quantity="1公斤", origin="村",
        issuer="张", phone="13800000000", issued_at=NOW, basis="quality_control",
        template_code=1,
    )  # fmt: skip


RECORD = Record("330100", "330100-K001-0000001", "K001", "示范镇", "点", "V001", "青菜",
                "tel:13800000000", NOW.isoformat())  # fmt: skip


def test_decision_order() -> None:
    ok = Verdict(Reason.VALID, "", _fields())
    void, hold = Void("错", "t"), Hold("kiosk", "阳性", "t")
    later = NOW + timedelta(days=30)
    assert decide(ok, RECORD, None, [], NOW, 7) is Status.VALID
    assert decide(ok, None, None, [], NOW, 7) is Status.NOT_UPLOADED
    # A void wins over a hold, a hold over age, age over "not uploaded".
    assert decide(ok, RECORD, void, [hold], later, 7) is Status.VOIDED
    assert decide(ok, RECORD, None, [hold], later, 7) is Status.SUSPENDED
    assert decide(ok, None, None, [], later, 7) is Status.EXPIRED
    # A bad signature wins over everything the county knows (a forged copy of a real
    # number must never borrow the real certificate's status).
    bad = Verdict(Reason.BAD_SIGNATURE, "", _fields())
    assert decide(bad, RECORD, None, [], NOW, 7) is Status.BAD_SIGNATURE
    assert decide(Verdict(Reason.REVOKED, "", _fields()), RECORD, None, [], NOW, 7) is (
        Status.BAD_SIGNATURE
    )
    assert decide(Verdict(Reason.UNKNOWN_KIOSK), None, None, [], NOW, 7) is Status.UNKNOWN_KIOSK


def test_phone_masking() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0571888") == "0571888"  # seven digits: nothing left to hide
    assert "2345" not in mask_phone("13812345678")
    assert mask_phone("123") == "***"


def test_a_rapid_test_result_slip_reads_as_a_slip_not_a_certificate(county_web) -> None:  # noqa: F811
    """A 快速检测结果单 signed by a kiosk verifies on the page as a genuine slip."""
    from support.web import NOW, VERIFY_URL

    from wire.qr import SLIP_BASIS, build_qr_text, encode_body, signed_message

    county, server, _clock = county_web
    county.kiosk("K001")
    fields = CertificateFields(
        number="330100-K001-T000007", product="青菜", quantity="500公斤", origin="示范镇检测站",
        issuer="张秀英", phone="13812345678", issued_at=NOW.replace(second=0, microsecond=0),
        basis=SLIP_BASIS, template_code=0, test_ref="阴性（未检出或低于判定值） 12.0%",
        source_certificate="GBT5009199|EZ-7|S-1",
    )  # fmt: skip
    body = encode_body(fields)
    qr = build_qr_text(VERIFY_URL, body, county.keys["K001"].sign(signed_message(VERIFY_URL, body)))
    doc = httpx.get(server.scan_url(qr) + "?format=json").json()
    assert doc["status"] == "rapidtest_slip"
    page = httpx.get(server.scan_url(qr)).text
    assert "快速检测结果单（真实）" in page and "不是合格证" in page
