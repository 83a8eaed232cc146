"""What the scan page's speed-ups must not cost: a cached signature verdict never hides a
void or a hold, a changed key set drops cached verdicts and parsed keys, the one-query
hold lookup finds every scope on both stores, and the per-address limit still counts."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import httpx
import pytest
from support.enforcement import county_url  # noqa: F401  (fixture)
from support.web import COUNTY, NOW, County, county_web  # noqa: F401  (fixtures)

from station import holds as county_holds
from station.web.ratelimit import WindowLimiter
from station.web.scan import Status, scan
from station.web.store import transaction
from station.web.trust import TrustCache, registry_trust_list
from wire import events
from wire.verify import Reason, verify_qr_text

#: A trace window that starts after every test certificate: a hold that traces nothing.
LATER = NOW + timedelta(days=1)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(c: County, ticks: Ticks, refresh_s: float = 5.0) -> tuple[TrustCache, list[int]]:
    loads: list[int] = []

    def load():  # type: ignore[no-untyped-def]
        loads.append(1)
        return registry_trust_list(c.db, COUNTY, NOW)

    return TrustCache(load, refresh_s, clock=ticks), loads


def _status(c: County, qr: str) -> Status:
    verdict = verify_qr_text(qr, registry_trust_list(c.db, COUNTY, NOW), NOW)
    return scan(c.db, verdict, NOW, 30).status


def test_a_void_and_a_hold_after_a_cached_verdict_still_show(tmp_path) -> None:
    c = County(str(tmp_path / "county.db"))
    try:
        c.kiosk("K001")
        qr = c.certificate("K001", 1)
        cache, _loads = _cache(c, Ticks())
        first = cache.verdict(qr, NOW)
        assert scan(c.db, first, NOW, 30).status is Status.VALID
        assert cache.verdict(qr, NOW) is first  # the signature is not checked again
        c.void("K001", 1)
        assert scan(c.db, cache.verdict(qr, NOW), NOW, 30).status is Status.VOIDED

        other = c.certificate("K001", 2)
        assert scan(c.db, cache.verdict(other, NOW), NOW, 30).status is Status.VALID
        c.hold("K001", 1)
        assert scan(c.db, cache.verdict(other, NOW), NOW, 30).status is Status.SUSPENDED
    finally:
        c.close()


def test_the_page_shows_a_void_on_the_next_scan(county_web) -> None:  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    url = server.scan_url(qr)
    for _ in range(3):  # scanned again and again: the verdict is cached
        assert httpx.get(url + "?format=json").json()["status"] == "valid"
    county.void("K001", 1, reason="数量填错")
    page = httpx.get(url)  # at once, no refresh interval to wait out
    assert 'data-status="voided"' in page.text and "已作废" in page.text
    assert httpx.get(url + "?format=json").json()["status"] == "voided"


def test_a_changed_key_set_drops_cached_verdicts_and_parsed_keys(tmp_path) -> None:
    c = County(str(tmp_path / "county.db"))
    try:
        c.kiosk("K001")
        qr = c.certificate("K001", 1)
        ticks = Ticks()
        cache, loads = _cache(c, ticks)
        assert cache.verdict(qr, NOW).reason is Reason.VALID
        assert (len(cache), cache.parsed_keys, len(loads)) == (1, 1, 1)
        ticks.now = 4.9  # within the refresh: no reload, the verdict from the cache
        assert cache.verdict(qr, NOW).reason is Reason.VALID and len(loads) == 1

        c.kiosk("K002")  # a kiosk enrolled: a new key set
        late = c.certificate("K002", 1)
        ticks.now = 5.0
        assert cache.verdict(late, NOW).reason is Reason.VALID
        assert len(loads) == 2 and len(cache) == 1  # K001's cached verdict was dropped
        assert cache.parsed_keys == 1  # only the key used since the change

        c.revoke("K001")
        assert cache.verdict(qr, NOW).reason is Reason.VALID  # until the next refresh
        ticks.now = 10.0
        assert cache.verdict(qr, NOW).reason is Reason.REVOKED
        assert len(loads) == 3
    finally:
        c.close()


def test_an_unchanged_key_set_keeps_the_cache(tmp_path) -> None:
    c = County(str(tmp_path / "county.db"))
    try:
        c.kiosk("K001")
        qr = c.certificate("K001", 1)
        ticks = Ticks()
        cache, loads = _cache(c, ticks, refresh_s=1.0)
        first = cache.verdict(qr, NOW)
        ticks.now = 3.0
        assert cache.verdict(qr, NOW) is first
        assert len(loads) == 2 and cache.parsed_keys == 1
    finally:
        c.close()


def test_every_hold_scope_in_one_lookup(county_url) -> None:  # noqa: F811
    c = County(county_url)
    try:
        c.kiosk("K001")
        kiosk_held = c.certificate("K001", 1, phone="13800000001")
        county_held = c.certificate("K001", 2, phone="13800000002")
        other_product = c.certificate("K001", 3, phone="13800000003", product=("V002", "白菜"))
        traced = c.certificate("K001", 4, phone="13800000004")
        not_uploaded = c.certificate("K001", 5, phone="13800000001", upload=False)
        voided = c.certificate("K001", 6, phone="13800000006")
        c.hold("K001", 1, phone="13800000001")
        c.void("K001", 6)
        with transaction(c.db):
            for phone, product, trace_from in (
                ("13800000002", "*", LATER),  # traces nothing issued before
                ("13800000003", "V001", LATER),
                ("13800000004", "V001", None),  # traces the certificates before it
            ):
                county_holds.place_hold(
                    c.db, COUNTY, identifiers=[f"phone:{phone}"], product_code=product,
                    reason="快检确认阳性", source="officer", placed_by="o", now=NOW,
                    trace_from=trace_from,
                )  # fmt: skip
        assert _status(c, kiosk_held) is Status.SUSPENDED
        assert _status(c, county_held) is Status.SUSPENDED
        assert _status(c, other_product) is Status.VALID
        assert _status(c, traced) is Status.TRACED
        assert _status(c, not_uploaded) is Status.NOT_UPLOADED
        assert _status(c, voided) is Status.VOIDED
        c.store("K001", events.hold_lifted(hold_id=1, lifted_by="county"))
        assert _status(c, kiosk_held) is Status.VALID
    finally:
        c.close()


def test_a_reissue_chain_is_traced_up_to_the_chain_depth(county_url) -> None:  # noqa: F811
    from station.trace import MAX_CHAIN_DEPTH
    from station.web.scan import lookup_certificate, lookup_holds

    c = County(county_url)
    try:
        c.kiosk("K001")
        c.certificate("K001", 1, phone="13800000009")
        with transaction(c.db):
            county_holds.place_hold(
                c.db, COUNTY, identifiers=["phone:13800000009"], product_code="V001",
                reason="快检确认阳性", source="officer", placed_by="o", now=NOW,
            )  # fmt: skip
        numbers = [f"{COUNTY}-K001-{n:07d}" for n in range(1, MAX_CHAIN_DEPTH + 3)]
        for source, number in pairwise(numbers):
            c.db.execute(  # 样式二 re-issues, each citing the one before
                "INSERT INTO certificate_sources (county, number, source_number) VALUES (?, ?, ?)",
                [COUNTY, number, source],
            )
        if c.db.dialect.placeholder == "%s":
            c.db.conn.commit()
        scopes = []
        for number in numbers:
            record, _void = lookup_certificate(c.db, COUNTY, numbers[0])
            assert record is not None
            record = type(record)(**{**record.__dict__, "number": number,
                                     "issuer_phone": "13900000000",
                                     "producer_key": "tel:13900000000"})  # fmt: skip
            scopes.append({h.scope for h in lookup_holds(c.db, record)})
        assert scopes[: MAX_CHAIN_DEPTH + 1] == [{"trace"}] * (MAX_CHAIN_DEPTH + 1)
        assert scopes[MAX_CHAIN_DEPTH + 1] == set()  # beyond the chain depth
    finally:
        c.close()


def test_the_window_limiter_counts_per_address_and_forgets_old_windows() -> None:
    ticks = Ticks()
    limiter = WindowLimiter(3, 60.0, clock=ticks)
    assert [limiter.hit("a") for _ in range(4)] == [True, True, True, False]
    ticks.now = 30.0
    assert limiter.hit("b")  # another address has its own count
    ticks.now = 59.9
    assert not limiter.hit("a")
    ticks.now = 60.0  # a's window (from its first request at 0) has ended
    assert limiter.hit("a")
    assert len(limiter) == 2  # b's window is still running
    assert [limiter.hit("b") for _ in range(3)] == [True, True, False]
    ticks.now = 130.0  # both windows over: the sweep on this request forgets them
    assert limiter.hit("c")
    assert len(limiter) == 1


def test_the_window_limiter_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        WindowLimiter(0, 60.0)
