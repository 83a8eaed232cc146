"""The regulators' dashboard: fleet, certificates, rapid tests, holds, market checks,
alarms, drill-downs, exports, accounts and the audit log.

Roles: viewer reads; officer also acknowledges alarms and exports; admin also manages
accounts and markets and reads the audit log. Every officer action is audited in the
transaction that performs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from station import holds as county_holds
from station import queries
from station.db import Database
from station.web import auth
from station.web.app import checked_form, error_page, render, requires, web
from station.web.auth import Account, AccountError, Role
from station.web.exports import to_csv, to_xlsx
from station.web.store import transaction
from wire.holds import IDENTIFIER_KINDS, identifier

VIEW = requires(Role.VIEWER, Role.OFFICER, Role.ADMIN)
OFFICER = requires(Role.OFFICER, Role.ADMIN)
ADMIN = requires(Role.ADMIN)
#: How the dashboard names identifier kinds and hold sources (wire/holds.py).
KIND_LABELS = {"producer_id": "主体编号", "phone": "手机号", "platform_code": "主体码",
               "id_number": "身份证号"}  # fmt: skip
SOURCE_LABELS = {"kiosk_positive": "终端快检确认阳性", "official_sample": "监督抽检不合格",
                 "officer": "执法人员决定"}  # fmt: skip
#: The default window: the last week (a longer one is a choice on each page).
DEFAULT_DAYS = 7


def _window(request: Request, days: int = DEFAULT_DAYS) -> queries.Window:
    today = web(request).clock().date()
    q = request.query_params
    return queries.Window.parse(q.get("from"), q.get("to"), today, days)


def _page(request: Request, name: str, context: dict[str, Any]) -> Response:
    response = render(request, name, context)
    response.headers["cache-control"] = "private, no-store"
    return response


def _table_rows(rows: list[dict], keys: Sequence[str], percent: Sequence[str] = ()) -> Markup:
    """The ``<tr>`` rows of a window table, escaped, in one pass: a Jinja loop over the
    2,700 township × method × product rows of two years took most of the tests page."""

    def cell(row: dict, key: str) -> str:
        value = row[key]
        if key in percent:
            return f"{'—' if value is None else value}%"
        return str(value)

    return Markup(
        "".join(
            "<tr>" + "".join(f"<td>{escape(cell(r, k))}</td>" for k in keys) + "</tr>" for r in rows
        )
    )


def _bar(chart_id: str, title: str, labels: list, values: list, **extra: Any) -> dict:
    return {"id": chart_id, "option": {
        "title": {"text": title, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 48, "right": 16, "bottom": 40, "top": 40},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value"},
        "series": [{"type": extra.get("kind", "bar"), "data": values, "name": title}],
        "animation": False,
    }}  # fmt: skip


# ---- overview ----------------------------------------------------------------------


async def overview(request: Request) -> Response:
    w = web(request)
    window = _window(request)
    today = w.clock().date().isoformat()

    def load(db: Database) -> dict:
        return {
            "numbers": queries.overview(db, today),
            "certs": queries.certificates_summary(db, window),
            "alarms": w.alarms.open(db),
        }

    data = await w.db(load)
    certs = data["certs"]
    charts = [
        _bar("chart-per-day", "每日开具", certs["days"], certs["per_day"], kind="line"),
        _bar("chart-townships", "各乡镇开具", [t for t, _ in certs["townships"]],
             [n for _, n in certs["townships"]]),
    ]  # fmt: skip
    return _page(request, "admin_overview.html", {**data, "window": window, "charts": charts})


# ---- fleet -------------------------------------------------------------------------


async def fleet(request: Request) -> Response:
    w = web(request)
    county = w.config.verify.county

    def load(db: Database) -> list[dict]:
        return queries.fleet(db, county, w.alarms.open(db))

    kiosks = await w.db(load)
    charts = []
    points = {p.device: p for p in w.config.map.kiosks}
    if points:
        data = [
            {"name": k["device"], "value": [points[k["device"]].lon, points[k["device"]].lat,
                                            len(k["alarms"])]}
            for k in kiosks if k["device"] in points
        ]  # fmt: skip
        charts.append({"id": "chart-map", "option": {
            "title": {"text": "地图", "textStyle": {"fontSize": 14}},
            "tooltip": {"trigger": "item"},
            "xAxis": {"type": "value", "scale": True, "name": "经度"},
            "yAxis": {"type": "value", "scale": True, "name": "纬度"},
            "series": [{"type": "scatter", "data": data, "symbolSize": 16,
                        "label": {"show": True, "formatter": "{b}", "position": "right"}}],
            "animation": False,
        }})  # fmt: skip
    return _page(request, "admin_fleet.html", {"kiosks": kiosks, "charts": charts})


async def kiosk_detail(request: Request) -> Response:
    w = web(request)
    county, device = w.config.verify.county, request.path_params["device"]

    def load(db: Database) -> dict:
        alarms = [a for a in w.alarms.open(db) if a.device == device]
        rows = [k for k in queries.fleet(db, county, alarms) if k["device"] == device]
        return {"kiosk": rows[0] if rows else None, "alarms": alarms,
                "certificates": queries.kiosk_certificates(db, county, device)}  # fmt: skip

    data = await w.db(load)
    if data["kiosk"] is None:
        return error_page(request, 404, "没有这个终端")
    return _page(request, "admin_kiosk.html", data)


# ---- certificates, tests, holds ----------------------------------------------------


async def certificates(request: Request) -> Response:
    w = web(request)
    window = _window(request)
    township = request.query_params.get("township") or None
    search = (request.query_params.get("q") or "").strip()[:40]

    def load(db: Database) -> dict:
        return {
            "summary": queries.certificates_summary(db, window, township),
            "townships": queries.townships(db, w.config.verify.county),
            "found": queries.find_certificates(db, w.config.verify.county, search)
            if search
            else None,
        }

    data = await w.db(load)
    s = data["summary"]
    charts = [
        _bar("chart-per-day", "每日开具", s["days"], s["per_day"], kind="line"),
        _bar("chart-products", "主要产品", [p for p, _ in s["products"]],
             [n for _, n in s["products"]]),
    ]  # fmt: skip
    table = _table_rows(s["rows"], ("township", "product", "issued", "voided", "tonnes",
                                    "producers"))  # fmt: skip
    return _page(request, "admin_certificates.html",
                 {**data, "window": window, "township": township, "q": search,
                  "charts": charts, "table": table})  # fmt: skip


async def certificate_detail(request: Request) -> Response:
    w = web(request)
    number = request.path_params["number"]
    detail = await w.db(queries.certificate_detail, w.config.verify.county, number)
    if detail is None:
        return error_page(request, 404, "查无此证")
    return _page(
        request,
        "admin_certificate.html",
        {
            "number": number,
            "d": detail,
            "producer_link": "/admin/producer?key=" + quote(detail["data"]["producer_key"]),
        },
    )


async def producer_detail(request: Request) -> Response:
    w = web(request)
    key = (request.query_params.get("key") or "").strip()[:128]
    if not key:
        return error_page(request, 404, "没有这个生产主体")
    data = await w.db(queries.producer_detail, w.config.verify.county, key)
    return _page(request, "admin_producer.html", {"key": key, **data})


#: Rows of the rapid-tests table shown before "全部显示".
TESTS_SHOWN = 200


async def rapid_tests(request: Request) -> Response:
    window = _window(request)
    data = await web(request).db(queries.rapid_tests_summary, window)
    charts = [
        {"id": "chart-methods", "option": {
            "title": {"text": "各方法检测", "textStyle": {"fontSize": 14}},
            "tooltip": {"trigger": "axis"}, "legend": {"bottom": 0},
            "grid": {"left": 48, "right": 16, "bottom": 56, "top": 40},
            "xAxis": {"type": "category", "data": [m for m, _ in data["methods"]]},
            "yAxis": {"type": "value"},
            "series": [
                {"type": "bar", "name": "检测次数", "data": [v[0] for _, v in data["methods"]]},
                {"type": "bar", "name": "阳性", "data": [v[1] for _, v in data["methods"]]},
            ],
            "animation": False,
        }},
    ]  # fmt: skip
    # Where a regulator looks first: confirmed and first positives on top. Two years of a
    # county are ~2,700 township x method x product rows; the page shows the first
    # TESTS_SHOWN (the rest on "全部显示" and in the exports).
    rows = sorted(data["rows"], key=lambda r: (-r["confirmed"], -r["positives"]))
    shown = rows if request.query_params.get("all") == "1" else rows[:TESTS_SHOWN]
    table = _table_rows(
        shown,
        ("township", "method", "product_code", "runs", "positives", "invalid", "samples",
         "confirmed", "run_rate", "sample_rate"),
        percent=("run_rate", "sample_rate"),
    )  # fmt: skip
    context = {
        **data, "window": window, "charts": charts, "table": table,
        "shown": len(shown), "total_rows": len(rows),
    }  # fmt: skip
    return _page(request, "admin_tests.html", context)


async def holds(request: Request, error: str | None = None, status: int = 200) -> Response:
    w = web(request)
    county = w.config.verify.county

    def load(db: Database) -> dict:
        since = w.clock() - timedelta(days=county_holds.LIFTED_KEEP_DAYS)
        return {
            "holds": queries.open_holds(db),
            "county_holds": county_holds.open_holds(db, county),
            "lifted": county_holds.recently_lifted(db, county, since),
            "published": county_holds.last_publication(db, county),
        }

    data = await w.db(load)
    for r in data["holds"]:
        r["link"] = "/admin/producer?key=" + quote(r["producer_key"])
    context = {**data, "error": error, "kinds": KIND_LABELS, "sources": SOURCE_LABELS}
    response = render(request, "admin_holds.html", context, status)
    response.headers["cache-control"] = "private, no-store"
    return response


async def hold_place(request: Request) -> Response:
    """An officer's county-wide hold: names the producer by one identifier (the county
    adds every other one it knows), a product or every product (*), and why."""
    account: Account = request.scope["account"]
    form = await checked_form(request)
    w = web(request)
    county = w.config.verify.county
    kind, value = str(form.get("kind", "")), str(form.get("value", "")).strip()
    product = str(form.get("product_code", "")).strip()[:32]

    def place(db: Database) -> str:
        if kind not in IDENTIFIER_KINDS or not value or len(value) > 64:
            raise county_holds.HoldError("请选择标识类型并填写标识")
        with transaction(db):
            hold_id = county_holds.place_hold(
                db, county, identifiers=[identifier(kind, value)], product_code=product,
                reason=str(form.get("reason", "")), source="officer",
                placed_by=account.username, now=w.clock(),
                contact=str(form.get("contact", "")).strip(),
            )  # fmt: skip
            auth.audit_row(db, account.username, "hold_place", hold_id,
                           identifier=f"{kind}:{value}", product_code=product)  # fmt: skip
        return hold_id

    try:
        await w.db(place)
    except county_holds.HoldError as error:
        return await holds(request, str(error), 400)
    return RedirectResponse("/admin/holds", status_code=303)


async def hold_lift(request: Request) -> Response:
    """Lifting is the officer's decision, with a reason, audited with the lift."""
    account: Account = request.scope["account"]
    form = await checked_form(request)
    w = web(request)
    county = w.config.verify.county
    hold_id, reason = str(form.get("hold_id", "")), str(form.get("reason", ""))

    def lift(db: Database) -> bool:
        with transaction(db):
            done = county_holds.lift_hold(db, county, hold_id, account.username, reason, w.clock())
            if done:
                auth.audit_row(db, account.username, "hold_lift", hold_id, reason=reason.strip())
        return done

    try:
        if not await w.db(lift):
            return await holds(request, "没有这条未解除的暂停", 404)
    except county_holds.HoldError as error:
        return await holds(request, str(error), 400)
    return RedirectResponse("/admin/holds", status_code=303)


#: Days of market x day rows in the markets table before "全部显示": two years of 30
#: markets are ~22,000 rows, and reading and rendering them all was most of the page.
MARKET_DAYS_SHOWN = 10


async def markets(request: Request) -> Response:
    window = _window(request, 7)
    several = window.tail(queries.SEVERAL_MARKETS_DAYS)
    show_all = request.query_params.get("all") == "1"
    table = window if show_all else window.tail(MARKET_DAYS_SHOWN)

    def load(db: Database) -> dict:
        return {
            "stats": queries.market_stats(db, table),
            "per_day": queries.checkins_per_day(db, window),
            "several": queries.certificates_at_several_markets(db, several),
            "checkins": queries.recent_checkins(db, None, 50),
            "uncertified": queries.recent_uncertified(db, None, 50),
        }

    data = await web(request).db(load)
    days = window.days()
    per_day = data["per_day"]
    charts = [_bar("chart-checkins", "查验数", days, [per_day.get(d, 0) for d in days])]
    context = {**data, "window": window, "charts": charts, "several_window": several,
               "several_days": queries.SEVERAL_MARKETS_DAYS, "table_window": table}  # fmt: skip
    return _page(request, "admin_markets.html", context)


# ---- alarms ------------------------------------------------------------------------


async def alarms(request: Request) -> Response:
    w = web(request)
    county = w.config.verify.county
    items = await w.db(w.alarms.open)
    # The collector's own alarms about a device (floods, conflicting event ids): one row
    # per device and condition with a running count (station/db.py: intake_alarms).
    names = ("county", "device", "code", "message", "first_at", "last_at", "count")
    intake = [
        dict(zip(names, row, strict=True))
        for row in await w.db(lambda db: db.intake_alarms())
        if row[0] == county
    ]
    return _page(request, "admin_alarms.html", {"alarms": items, "intake": intake})


async def acknowledge(request: Request) -> Response:
    account: Account = request.scope["account"]
    form = await checked_form(request)
    try:
        device, seq = str(form.get("device", "")), int(str(form.get("seq", "")))
    except ValueError:
        return error_page(request, 400, "参数错误")
    w = web(request)
    county = w.config.verify.county

    def ack(db: Database) -> None:
        with transaction(db):
            db.execute(
                "INSERT INTO alarm_acks (county, device, seq, acked_by, acked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [county, device, seq, account.username, w.clock().isoformat(timespec="seconds")],
            )
            auth.audit_row(db, account.username, "alarm_ack", f"{county}/{device}:{seq}")

    await w.db(ack)
    return RedirectResponse("/admin/alarms", status_code=303)


# ---- exports -----------------------------------------------------------------------


def _export_rows(db: Database, section: str, window: queries.Window) -> tuple[list, list]:
    if section == "certificates":
        return queries.certificates_export(db, window)
    if section == "rapidtests":
        rows = queries.rapid_tests_summary(db, window)["rows"]
        head = ["乡镇", "方法", "产品代码", "检测次数", "阳性", "无效", "样品数", "确认阳性",
                "阳性率(次)%", "阳性率(样品)%"]  # fmt: skip
        keys = ["township", "method", "product_code", "runs", "positives", "invalid", "samples",
                "confirmed", "run_rate", "sample_rate"]  # fmt: skip
        return head, [[r[k] for k in keys] for r in rows]
    if section == "holds":
        rows = queries.open_holds(db, 100_000)
        keys = ["county", "device", "township", "hold_id", "producer_key", "product_code",
                "reason", "placed_at"]  # fmt: skip
        return keys, [[r[k] for k in keys] for r in rows]
    if section == "checkins":
        head = ["市场", "日期", "查验数", "有效", "无效", "无证"]
        rows = queries.market_stats(db, window)
        return head, [[r["market"], r["day"], r["checked"], r["valid"], r["invalid"],
                       r["without"]] for r in rows]  # fmt: skip
    raise KeyError(section)


EXPORTS = ("certificates", "rapidtests", "holds", "checkins")


async def export(request: Request) -> Response:
    account: Account = request.scope["account"]
    section, fmt = request.path_params["section"], request.path_params["fmt"]
    if section not in EXPORTS or fmt not in ("csv", "xlsx"):
        return error_page(request, 404, "没有这种导出")
    window = _window(request)
    w = web(request)

    def load(db: Database) -> tuple[list, list]:
        result = _export_rows(db, section, window)
        auth.audit(db, account.username, "export", section, format=fmt, first=window.first,
                   last=window.last, rows=len(result[1]))  # fmt: skip
        return result

    head, rows = await w.db(load)
    name = f"{section}-{window.first}-{window.last}.{fmt}"
    if fmt == "csv":
        body, media = to_csv(head, rows), "text/csv; charset=utf-8"
    else:
        body = to_xlsx(section, head, rows)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


# ---- accounts and audit ------------------------------------------------------------


async def accounts(request: Request) -> Response:
    def load(db: Database) -> dict:
        return {"accounts": auth.list_accounts(db), "markets": auth.markets(db)}

    data = await web(request).db(load)
    return _page(request, "admin_accounts.html", {**data, "error": None, "roles": list(Role)})


async def accounts_post(request: Request) -> Response:
    account: Account = request.scope["account"]
    form = await checked_form(request)
    w = web(request)
    action = str(form.get("action", ""))

    def change(db: Database) -> None:
        if action == "add_market":
            name = str(form.get("name", "")).strip()[:64]
            auth.add_market(db, w.config.verify.county, name,
                            str(form.get("township", "")).strip()[:64])  # fmt: skip
            auth.audit(db, account.username, "market_add", name)
        elif action == "add_account":
            role = Role(str(form.get("role", "")))
            market = str(form.get("market_id", "")).strip()
            username = str(form.get("username", ""))
            auth.add_account(db, w.authenticator.ph, username, str(form.get("password", "")),
                             role, display_name=str(form.get("display_name", "")).strip()[:64],
                             market_id=int(market) if market else None)  # fmt: skip
            auth.audit(db, account.username, "account_add", username, role=role.value)
        elif action in ("disable", "enable"):
            username = str(form.get("username", ""))
            if username == account.username:
                raise AccountError("不能停用自己的账号")
            auth.set_disabled(db, username, action == "disable")
            auth.audit(db, account.username, f"account_{action}", username)
        else:
            raise AccountError("未知操作")

    try:
        await w.db(change)
    except (AccountError, ValueError) as error:

        def load(db: Database) -> dict:
            return {"accounts": auth.list_accounts(db), "markets": auth.markets(db)}

        data = await w.db(load)
        response = render(request, "admin_accounts.html",
                          {**data, "error": str(error), "roles": list(Role)}, 400)  # fmt: skip
        return response
    return RedirectResponse("/admin/accounts", status_code=303)


async def audit_log(request: Request) -> Response:
    rows = await web(request).db(auth.audit_entries, 300)
    return _page(request, "admin_audit.html", {"rows": rows})


def routes() -> list[Route]:
    return [
        Route("/admin/", VIEW(overview)),
        Route("/admin/fleet", VIEW(fleet)),
        Route("/admin/kiosk/{device}", VIEW(kiosk_detail)),
        Route("/admin/certificates", VIEW(certificates)),
        Route("/admin/certificate/{number}", VIEW(certificate_detail)),
        Route("/admin/producer", VIEW(producer_detail)),
        Route("/admin/tests", VIEW(rapid_tests)),
        Route("/admin/holds", VIEW(holds), methods=["GET"]),
        Route("/admin/holds/place", OFFICER(hold_place), methods=["POST"]),
        Route("/admin/holds/lift", OFFICER(hold_lift), methods=["POST"]),
        Route("/admin/markets", VIEW(markets)),
        Route("/admin/alarms", VIEW(alarms), methods=["GET"]),
        Route("/admin/alarms/ack", OFFICER(acknowledge), methods=["POST"]),
        Route("/admin/export/{section}.{fmt}", OFFICER(export)),
        Route("/admin/accounts", ADMIN(accounts), methods=["GET"]),
        Route("/admin/accounts", ADMIN(accounts_post), methods=["POST"]),
        Route("/admin/audit", ADMIN(audit_log)),
    ]
