"""The county web service: Starlette application, composed from a ``WebConfig``.

``create_app(config)`` is the one place that turns configuration into running parts
(database pool, kiosk-key cache, rate limiters, password hasher, templates); routes
reach them through ``request.app.state.web``. Database work runs on worker threads
(``run_db``), never on the event loop.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from jinja2 import BaseLoader, Environment, FileSystemLoader, select_autoescape
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from markupsafe import escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from station.db import Database
from station.queries import AlarmBook
from station.web import auth
from station.web.auth import Account, Authenticator, Role
from station.web.config import WebConfig
from station.web.i18n import LANGUAGES, translator
from station.web.ratelimit import WindowLimiter
from station.web.store import Pool
from station.web.trust import TrustCache, registry_trust_list
from station.web.workers import Workers
from wire.clock import china_time
from wire.files import PRIVATE, atomic_write

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
#: Largest request body accepted (a photo of produce without a certificate).
MAX_BODY_BYTES = 8 * 1024 * 1024
T = TypeVar("T")


@dataclass
class Web:
    """Everything a route needs; one per application."""

    config: WebConfig
    pool: Pool
    trust: TrustCache
    alarms: AlarmBook
    authenticator: Authenticator
    jinja: dict[str, Environment]
    clock: Callable[[], datetime]
    public_limiter: WindowLimiter
    login_limiter: MovingWindowRateLimiter
    login_limit: Any
    #: One thread per pooled connection: a thread never waits for a connection.
    workers: Workers = field(init=False)

    def __post_init__(self) -> None:
        self.workers = Workers(self.pool.size)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args)`` on a worker thread with a pooled connection.

        Our own ``Workers``, not anyio's ``to_thread``: every scan page makes this hop,
        and it costs a few microseconds instead of about 60 (station/web/workers.py)."""

        def call() -> T:
            with self.pool.connection() as db:
                return fn(db, *args, **kwargs)

        return await self.workers.run(call)

    def close(self) -> None:
        self.workers.close()
        self.pool.close()


def web(request: Request) -> Web:
    return request.app.state.web


def load_secret(path: Path) -> str:
    """The session-signing key, made (0600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, secrets.token_hex(32).encode(), mode=PRIVATE)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_text().strip()


# ---- rendering ---------------------------------------------------------------------


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh-CN"
    return "en" if lang == "en" else "zh-CN"


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    w = web(request)
    lang = language(request)
    account = request.scope.get("account")
    page = (
        w.jinja[lang]
        .get_template(name)
        .render(
            request=request,
            _=translator(lang),
            lang=lang,
            account=account,
            csrf=request.session.get("csrf", "") if "session" in request.scope else "",
            Role=Role,
            simulation=w.config.simulation,
            **context,
        )
    )
    response = HTMLResponse(page, status_code=status_code)
    if request.query_params.get("lang") in ("en", "zh-CN"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "message": message}, status)


# ---- sessions, roles, CSRF ---------------------------------------------------------


async def current_account(request: Request) -> Account | None:
    """The logged-in account, re-read each request so a disabled account stops at once."""
    if "account" in request.scope:
        return request.scope["account"]
    uid = request.session.get("uid")
    account = await web(request).db(auth.get_account, int(uid)) if uid else None
    if account is not None and account.disabled:
        request.session.clear()
        account = None
    request.scope["account"] = account
    return account


def ensure_csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = auth.new_csrf_token()
        request.session["csrf"] = token
    return str(token)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after its CSRF token matched the session's; else 403."""
    form = await request.form(max_part_size=MAX_BODY_BYTES)
    given = form.get("csrf")
    if not auth.csrf_matches(
        request.session.get("csrf"), given if isinstance(given, str) else None
    ):
        raise CsrfRefused()
    return form


class CsrfRefused(Exception):
    pass


Handler = Callable[[Request], Awaitable[Response]]


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    """Route guard: log in first (redirect), then the role (403)."""
    allowed = frozenset(roles)

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request) -> Response:
            account = await current_account(request)
            if account is None:
                target = request.url.path
                return RedirectResponse(f"/login?next={target}", status_code=303)
            if account.role not in allowed:
                return error_page(request, 403, "您的账号无权访问此页面")
            ensure_csrf(request)
            try:
                return await handler(request)
            except CsrfRefused:
                return error_page(request, 403, "表单已失效（CSRF 校验失败），请刷新页面后重试")

        guarded.roles = allowed  # type: ignore[attr-defined]  # read by the role-matrix test
        return guarded

    return wrap


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---- middleware --------------------------------------------------------------------


class SecurityHeaders:
    """Headers on every response: no framing, no sniffing, no referrer (the scan URL
    carries the certificate), scripts only from this server."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
            b"base-uri 'none'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {h[0].lower() for h in headers}
                headers += [h for h in self.HEADERS if h[0] not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse bodies over MAX_BODY_BYTES before reading them (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                    response = Response("request too large", status_code=413)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# ---- composition -------------------------------------------------------------------


#: ``{{ _("literal") }}`` in a template: translated once, when the template is loaded.
_LITERAL_TEXT = re.compile(r'\{\{\s*_\("([^"\\{}]*)"\)\s*\}\}')


class TranslatingLoader(BaseLoader):
    """The templates with their literal UI text already in one language: a page then
    calls no translation function per label (they were most of the scan page's
    render time). Dynamic text (``_(result.headline)``) is still translated per call."""

    def __init__(self, folder: Path, lang: str) -> None:
        self._inner = FileSystemLoader(folder)
        self._translate = translator(lang)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self._inner.get_source(environment, template)
        text = _LITERAL_TEXT.sub(lambda m: str(escape(self._translate(m.group(1)))), source)
        return text, filename, uptodate


def make_jinja(lang: str) -> Environment:
    env = Environment(
        loader=TranslatingLoader(HERE / "templates", lang),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package data: no stat() of the file on every page
    )
    env.globals["ROLE_NAMES"] = auth.ROLE_NAMES
    return env


def create_app(config: WebConfig, *, clock: Callable[[], datetime] = china_time) -> Starlette:
    from station.web import dashboard, enforcement, market, public

    pool = Pool(config.database.url, config.database.pool_size)
    county = config.verify.county

    def load_trust() -> Any:
        with pool.connection() as db:
            return registry_trust_list(db, county, clock())

    s = config.security
    ph = auth.hasher(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)
    state = Web(
        config=config,
        pool=pool,
        trust=TrustCache(load_trust, config.verify.trust_refresh_s),
        alarms=AlarmBook(),
        authenticator=Authenticator(ph),
        jinja={lang: make_jinja(lang) for lang in LANGUAGES},
        clock=clock,
        public_limiter=WindowLimiter(s.public_requests_per_minute, 60.0),
        login_limiter=MovingWindowRateLimiter(MemoryStorage()),
        login_limit=parse_limit(f"{s.login_failures_per_15min}/15minutes"),
    )
    if config.simulation:
        with pool.connection() as db:
            seed_simulation(db, ph, county)
    routes = [
        *public.routes(),
        *market.routes(),
        *dashboard.routes(),
        *enforcement.routes(),
        Route("/healthz", health),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(BodyLimit),
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=load_secret(s.secret_key_file),
            session_cookie="agriqs_session",
            max_age=s.session_max_age_s,
            same_site="lax",
            https_only=s.cookie_secure,
        ),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.web = state
    if not (VENDOR / "echarts.min.js").exists():
        log.warning("chart library missing (%s): run scripts/vendor-assets", VENDOR)
    return app


async def health(request: Request) -> Response:
    """200 when the store answers and the kiosk keys load; 503 otherwise."""
    w = web(request)

    def probe(db: Database) -> dict[str, Any]:
        return {
            "schema": int(db.query("SELECT max(version) FROM schema_migrations")[0][0]),
            "events": db.count_events(),
        }

    try:
        info = await w.db(probe)
        keys = len((await run_in_threadpool(w.trust.trust)).keys)
    except Exception as error:  # the point of a health check: report, never raise
        log.exception("health check failed")
        return JSONResponse({"ok": False, "error": str(error)[:200]}, status_code=503)
    charts = (VENDOR / "echarts.min.js").exists()
    return JSONResponse({"ok": True, "kiosk_keys": keys, "charts": charts, **info})


DEMO_PASSWORD = "agriqs-demo-2026"
DEMO_ACCOUNTS = (
    ("admin", "县管理员", Role.ADMIN),
    ("officer", "县监管员", Role.OFFICER),
    ("viewer", "县查看员", Role.VIEWER),
    ("inspector", "示范农贸市场查验员", Role.INSPECTOR),
    ("buyer", "示范农贸市场采购商", Role.BUYER),
)


def seed_simulation(db: Database, ph: Any, county: str) -> None:
    """Demo market and accounts (password ``DEMO_PASSWORD``), in simulation only."""
    if auth.list_accounts(db):
        return
    market_id = auth.add_market(db, county, "示范农贸市场", "示范镇")
    for username, name, role in DEMO_ACCOUNTS:
        auth.add_account(
            db, ph, username, DEMO_PASSWORD, role, display_name=name,
            market_id=market_id if role in auth.MARKET_ROLES else None,
        )  # fmt: skip
    log.info("simulation: demo accounts %s, password %s",
             ", ".join(a[0] for a in DEMO_ACCOUNTS), DEMO_PASSWORD)  # fmt: skip
