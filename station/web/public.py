"""The public scan page (``/V/<payload>``, what every label's QR opens), its JSON twin,
the check-in button, and logging in and out.

The page is served to anyone: it is rate-limited per client address, shows only what
the label itself prints (the phone masked), and looks up the county's records only
for a certificate whose signature verified.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from station.db import Database
from station.web import auth
from station.web.app import (
    CsrfRefused,
    checked_form,
    client_address,
    current_account,
    ensure_csrf,
    error_page,
    render,
    web,
)
from station.web.auth import CHECKIN_ROLES, Account
from station.web.ratelimit import address_key
from station.web.scan import ScanResult, mask_phone, scan
from station.web.store import transaction
from wire.qr import PayloadError
from wire.verify import Reason, Verdict

log = logging.getLogger(__name__)

BASIS_TEXT = {
    "quality_control": "质量安全控制符合要求",
    "self_test": "自行检测合格",
    "commissioned_test": "委托检测合格",
    "rapidtest_slip": "快速检测结果单（不是合格证）",
}
#: A base32 payload of a certificate is a few hundred characters; refuse essays.
MAX_PAYLOAD_CHARS = 2000


def payload_of(text: str) -> str:
    """The base32 payload from a path segment, a scanned URL or the payload itself."""
    text = text.strip()
    if "://" in text:
        text = urlsplit(text).path
    return text.rstrip("/").rsplit("/", 1)[-1].upper()


async def verify_payload(request: Request, payload: str) -> ScanResult:
    """Verify against each verify URL the county prints; look up the county's facts."""
    w = web(request)
    now = w.clock()
    if not payload or len(payload) > MAX_PAYLOAD_CHARS or not payload.isalnum():
        return ScanResult(_status_malformed(), Verdict(Reason.MALFORMED, "not a payload"))

    def work(db: Database) -> ScanResult:
        first: Verdict | None = None
        for url in w.config.verify.verify_urls:
            verdict = w.trust.verdict(url + payload, now)
            if verdict.valid:
                return scan(db, verdict, now, w.config.verify.valid_days)
            first = first or verdict
        assert first is not None
        return scan(db, first, now, w.config.verify.valid_days)

    return await w.db(work)


def _status_malformed() -> Any:
    from station.web.scan import Status

    return Status.MALFORMED


def certificate_view(result: ScanResult) -> dict[str, Any] | None:
    """What the page shows of the label: its own fields, the phone masked."""
    f = result.fields
    if f is None:
        return None
    return {
        "number": f.number,
        "product": f.product,
        "quantity": f.quantity,
        "origin": f.origin,
        "issuer": f.issuer,
        "phone": mask_phone(f.phone),
        "issued_at": f.issued_at.strftime("%Y-%m-%d %H:%M"),
        "basis": f.basis,
        "basis_text": BASIS_TEXT.get(f.basis, f.basis),
        "test_ref": f.test_ref,
        "source_certificate": f.source_certificate,
    }


def as_json(result: ScanResult) -> dict[str, Any]:
    record = result.record
    return {
        "status": result.status.value,
        "headline": result.headline,
        "meaning": result.meaning,
        "accepted": result.accepted,
        "signature": result.verdict.reason.value,
        "certificate": certificate_view(result),
        "at_county": record is not None,
        "issuing_point": (
            {"township": record.township, "service_point": record.service_point}
            if record
            else None
        ),
        "voided": {"reason": result.void.reason, "at": result.void.voided_at}
        if result.void
        else None,
        "holds": [{"scope": h.scope, "reason": h.reason, "since": h.placed_at}
                  for h in result.holds],
    }  # fmt: skip


def _limited(request: Request) -> bool:
    return not web(request).public_limiter.hit(address_key(client_address(request)))


async def scan_page(request: Request) -> Response:
    if _limited(request):
        return error_page(request, 429, "请求过于频繁，请稍后再试")
    payload = payload_of(request.path_params["payload"])
    result = await verify_payload(request, payload)
    wants_json = request.query_params.get("format") == "json" or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )
    status = 404 if result.status.value == "malformed" else 200
    if wants_json:
        return JSONResponse(as_json(result), status_code=status,
                            headers={"cache-control": "no-store"})  # fmt: skip
    account = await current_account(request) if "uid" in request.session else None
    can_check = account is not None and account.role in CHECKIN_ROLES and result.fields is not None
    if can_check:
        ensure_csrf(request)
    response = render(
        request,
        "scan.html",
        {"result": result, "cert": certificate_view(result), "payload": payload,
         "can_check": can_check, "checked": request.query_params.get("checked") == "1"},
        status,
    )  # fmt: skip
    response.headers["cache-control"] = "no-store"
    return response


async def api_verify(request: Request) -> Response:
    if _limited(request):
        return JSONResponse({"error": "rate limited"}, status_code=429)
    result = await verify_payload(request, payload_of(request.path_params["payload"]))
    status = 404 if result.status.value == "malformed" else 200
    return JSONResponse(as_json(result), status_code=status, headers={"cache-control": "no-store"})


def record_checkin(
    db: Database, account: Account, result: ScanResult, mode: str, now: datetime
) -> None:
    f = result.fields
    assert f is not None and account.market_id is not None
    with transaction(db):
        db.execute(
            "INSERT INTO checkins (county, number, market_id, account_id, status, valid, mode, "
            "checked_at, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f.county, f.number, account.market_id, account.id, result.status.value,
             int(result.accepted), mode, now.isoformat(timespec="seconds"),
             now.date().isoformat()],
        )  # fmt: skip


async def checkin(request: Request) -> Response:
    account = await current_account(request)
    payload = payload_of(request.path_params["payload"])
    if account is None:
        return RedirectResponse(f"/login?next=/V/{payload}", status_code=303)
    if account.role not in CHECKIN_ROLES:
        return error_page(request, 403, "只有市场查验员和采购商可以登记查验")
    try:
        await checked_form(request)
    except CsrfRefused:
        return error_page(request, 403, "表单已失效（CSRF 校验失败），请刷新页面后重试")
    result = await verify_payload(request, payload)
    if result.fields is None:
        return error_page(request, 400, "这不是合格证二维码，无法登记")
    w = web(request)
    await w.db(record_checkin, account, result, "phone", w.clock())
    return RedirectResponse(f"/V/{payload}?checked=1", status_code=303)


# ---- login -------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login_form(request: Request) -> Response:
    ensure_csrf(request)
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next")),
                                          "error": None})  # fmt: skip


async def login(request: Request) -> Response:
    w = web(request)
    try:
        form = await checked_form(request)
    except CsrfRefused:
        return error_page(request, 403, "表单已失效（CSRF 校验失败），请刷新页面后重试")
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:256]
    target = _safe_next(str(form.get("next", "")))
    address = client_address(request)
    keys = (("login-user", username), ("login-ip", address_key(address)))  # a /64 is one
    if not all(w.login_limiter.test(w.login_limit, *k) for k in keys):
        await w.db(auth.audit, username or "-", "login_refused", address, reason="rate limit")
        return render(request, "login.html", {"next": target, "error": "尝试次数过多，请稍后再试"},
                      429)  # fmt: skip

    def check(db: Database) -> Account | None:
        return w.authenticator.check(db, username, password)

    account = await w.db(check)
    if account is None:
        for k in keys:
            w.login_limiter.hit(w.login_limit, *k)
        await w.db(auth.audit, username or "-", "login_failed", address)
        return render(request, "login.html", {"next": target, "error": "用户名或密码不正确"}, 401)
    request.session.clear()  # a fresh session: no fixation
    request.session["uid"] = account.id
    request.session["csrf"] = auth.new_csrf_token()
    await w.db(auth.audit, account.username, "login", address)
    if target == "/":
        target = "/admin/" if account.county_staff else "/market/"
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    try:
        await checked_form(request)
    except CsrfRefused:
        return error_page(request, 403, "表单已失效（CSRF 校验失败），请刷新页面后重试")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    account = await current_account(request) if "uid" in request.session else None
    if account is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin/" if account.county_staff else "/market/", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/V/{payload}", scan_page),
        Route("/v/{payload}", scan_page),
        Route("/V/{payload}/checkin", checkin, methods=["POST"]),
        Route("/v/{payload}/checkin", checkin, methods=["POST"]),
        Route("/api/v1/verify/{payload}", api_verify),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


__all__ = ["PayloadError", "payload_of", "routes", "run_in_threadpool"]
