"""Attacks on the web service, each written before its defence: a role reaching a route
it may not, a form posted without its CSRF token, password guessing, scraping the scan
page, an open redirect after login, session fixation, a disabled account's cookie,
oversized bodies, and the cookie's flags."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route
from support.web import (  # noqa: F401  (fixtures)
    PASSWORD,
    Clock,
    County,
    WebServer,
    county_web,
    csrf_of,
    login,
    web_config,
)
from support.web import add_account as add

from station.db import Database
from station.web.app import create_app
from station.web.auth import Role

SAMPLE_PARAMS = {"device": "K001", "number": "330100-K001-0000001", "section": "holds",
                 "fmt": "csv", "id": "1", "hold_id": "H000001"}  # fmt: skip
ACCOUNTS = {
    Role.VIEWER: "v", Role.OFFICER: "o", Role.ADMIN: "a", Role.INSPECTOR: "i", Role.BUYER: "b",
}  # fmt: skip


def guarded_routes(server: WebServer) -> list[tuple[str, str, frozenset]]:
    """(method, path, allowed roles) of every role-guarded route of the real app."""
    app = create_app(server.config)
    out = []
    for route in app.routes:
        roles = getattr(getattr(route, "endpoint", None), "roles", None)
        if isinstance(route, Route) and roles is not None:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS[m.group(1)], route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    out.append((method, path, roles))
    return out


@pytest.fixture
def accounts(county_web):  # noqa: F811
    county, server, _clock = county_web
    county.kiosk("K001")
    county.certificate("K001", 1)
    for role, username in ACCOUNTS.items():
        market = "城东农贸市场" if role in (Role.INSPECTOR, Role.BUYER) else None
        add(server, username, role, market=market)
    return county, server


def test_every_guarded_route_refuses_the_roles_it_does_not_allow(accounts) -> None:
    _county, server = accounts
    routes = guarded_routes(server)
    assert len(routes) >= 18
    for role, username in ACCOUNTS.items():
        with httpx.Client(base_url=server.url) as client:
            assert login(client, username).status_code == 303
            token = csrf_of(client.get("/login").text)
            for method, path, allowed in routes:
                response = client.request(method, path, data={"csrf": token})
                if role in allowed:
                    assert response.status_code in (200, 303, 400, 404), (role, method, path)
                else:
                    assert response.status_code == 403, (role, method, path)
    with httpx.Client(base_url=server.url) as anonymous:
        for method, path, _allowed in routes:
            response = anonymous.request(method, path)
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login")


def test_every_form_refuses_a_post_without_its_csrf_token(accounts) -> None:
    _county, server = accounts
    posts = [(p, roles) for m, p, roles in guarded_routes(server) if m == "POST"]
    qr_path = "/V/" + accounts[0].certificate("K001", 2).rsplit("/", 1)[1]
    posts.append((qr_path + "/checkin", frozenset({Role.INSPECTOR})))
    for path, roles in posts:
        username = ACCOUNTS[sorted(roles)[0]]
        with httpx.Client(base_url=server.url) as client:
            login(client, username)
            for data in ({}, {"csrf": "forged-token"}):
                response = client.post(path, data=data)
                assert response.status_code == 403, (path, data)
                assert "CSRF" in response.text
    with Database(server.config.database.url) as db:
        assert db.query("SELECT count(*) FROM checkins")[0][0] == 0
        assert db.query("SELECT count(*) FROM alarm_acks")[0][0] == 0
    with httpx.Client(base_url=server.url) as client:  # logging in and out need it too
        assert (
            client.post("/login", data={"username": "a", "password": PASSWORD}).status_code == 403
        )


def test_password_guessing_is_slowed_per_account_and_address(accounts) -> None:
    _county, server = accounts
    limit = server.config.security.login_failures_per_15min
    with httpx.Client(base_url=server.url) as client:
        for _ in range(limit):
            assert login(client, "o", "wrong-password").status_code == 401
        # Now even the right password is refused, and says why.
        refused = login(client, "o", PASSWORD)
        assert refused.status_code == 429
        assert "尝试次数过多" in refused.text
    with Database(server.config.database.url) as db:
        failed = db.query("SELECT count(*) FROM web_audit WHERE action = 'login_failed'")[0][0]
        assert failed == limit


def test_an_unknown_user_answers_like_a_wrong_password(accounts) -> None:
    _county, server = accounts
    with httpx.Client(base_url=server.url) as client:
        unknown = login(client, "nobody", PASSWORD)
    assert unknown.status_code == 401 and "用户名或密码不正确" in unknown.text


def test_the_scan_page_is_rate_limited_per_address(tmp_path) -> None:
    url = str(tmp_path / "county.db")
    county = County(url)
    county.kiosk("K001")
    qr = county.certificate("K001", 1)
    config = web_config(tmp_path, url, security={"public_requests_per_minute": 10})
    server = WebServer(config, Clock()).start()
    try:
        codes = [httpx.get(server.scan_url(qr)).status_code for _ in range(12)]
        assert codes[:10] == [200] * 10
        assert codes[10:] == [429, 429]
        assert "请求过于频繁" in httpx.get(server.scan_url(qr)).text
    finally:
        server.stop()
        county.close()


def test_login_never_redirects_off_site(accounts) -> None:
    _county, server = accounts
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        with httpx.Client(base_url=server.url) as client:
            token = csrf_of(client.get("/login").text)
            form = {"csrf": token, "username": "o", "password": PASSWORD, "next": target}
            response = client.post("/login", data=form)
            assert response.headers["location"] == "/admin/", target


def test_a_fresh_session_at_login_and_cookie_flags(accounts) -> None:
    _county, server = accounts
    with httpx.Client(base_url=server.url) as client:
        client.get("/login")
        before = client.cookies.get("agriqs_session")
        response = login(client, "o")
        after = client.cookies.get("agriqs_session")
        assert before and after and before != after
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
    # Outside simulation the cookie is Secure, and a plain-HTTP cookie is refused in config.
    with pytest.raises(ValueError, match="cookie_secure"):
        web_config(server.config.security.secret_key_file.parent, "x.db", simulation=False)


def test_a_disabled_account_loses_its_open_session(accounts) -> None:
    _county, server = accounts
    with httpx.Client(base_url=server.url) as client:
        login(client, "v")
        assert client.get("/admin/").status_code == 200
        with Database(server.config.database.url) as db:
            db.execute("UPDATE accounts SET disabled = 1 WHERE username = 'v'")
        assert client.get("/admin/").status_code == 303


def test_a_forged_session_cookie_is_ignored(accounts) -> None:
    _county, server = accounts
    with httpx.Client(base_url=server.url, cookies={"agriqs_session": "eyJ1aWQiOiAxfQ=="}) as c:
        assert c.get("/admin/").status_code == 303


def test_an_oversized_body_is_refused_before_it_is_read(accounts) -> None:
    _county, server = accounts
    with httpx.Client(base_url=server.url) as client:
        login(client, "i")
        form_type = {"content-type": "application/x-www-form-urlencoded"}
        body = b"x" * (9 * 1024 * 1024)
        response = client.post("/market/uncertified", content=body, headers=form_type)
    assert response.status_code == 413


def test_the_secret_key_file_is_private(accounts) -> None:
    _county, server = accounts
    mode = server.config.security.secret_key_file.stat().st_mode & 0o777
    assert mode == 0o600


def test_login_guessing_from_rotating_ipv6_addresses_is_one_address(tmp_path) -> None:
    """Behind the reverse proxy an attacker holding an IPv6 /64 sends each guess from
    another address and another username: the /64 is one address to the limiter."""
    url = str(tmp_path / "county.db")
    county = County(url)
    config = web_config(tmp_path, url, server={"trusted_proxies": ["127.0.0.1"]})
    server = WebServer(config, Clock()).start()
    limit = config.security.login_failures_per_15min
    try:
        codes = []
        with httpx.Client(base_url=server.url) as client:
            for n in range(limit + 2):
                client.headers["x-forwarded-for"] = f"2001:db8:7:9::{n + 1:x}"
                codes.append(login(client, f"guess{n}", "wrong-password").status_code)
            client.headers["x-forwarded-for"] = "2001:db8:7:a::1"  # another household
            other = login(client, "guess-other", "wrong-password").status_code
        assert codes[:limit] == [401] * limit and codes[limit:] == [429, 429]
        assert other == 401
    finally:
        server.stop()
        county.close()
