"""Dashboard pages of the enforcement loop: official sampling results (entry and import)
and traces (a producer's certificates of a product in a window, where printed, where
checked in, 样式二 re-issues), with exports. docs/enforcement.md."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from station import grading, ledger, sampling, statistics
from station import holds as county_holds
from station import trace as tracing
from station.db import Database
from station.web import auth
from station.web.app import checked_form, error_page, render, requires, web
from station.web.auth import Account, Role
from station.web.exports import to_csv, to_xlsx
from station.web.store import transaction
from wire.holds import IDENTIFIER_KINDS, identifier

VIEW = requires(Role.VIEWER, Role.OFFICER, Role.ADMIN)
OFFICER = requires(Role.OFFICER, Role.ADMIN)
#: A trace page without dates covers the hold's window, else the last 7 days.
DEFAULT_DAYS = 7
MAX_UPLOAD_BYTES = 4 * 1024 * 1024


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = render(request, name, context, status)
    response.headers["cache-control"] = "private, no-store"
    return response


# ---- official samples ----------------------------------------------------------------


async def samples(
    request: Request, errors: list[str] | None = None, status: int = 200, notice: str = ""
) -> Response:
    w = web(request)
    rows = await w.db(sampling.recent, w.config.verify.county)
    context = {"samples": rows, "errors": errors or [], "notice": notice,
               "today": w.clock().date().isoformat()}  # fmt: skip
    return _page(request, "admin_samples.html", context, status)


def _record_all(
    db: Database, county: str, entries: list[sampling.SampleEntry], officer: str, now: Any
) -> list[sampling.Recorded]:
    with transaction(db):
        done = [sampling.record(db, county, e, officer, now) for e in entries]
        for entry, result in zip(entries, done, strict=True):
            if not result.duplicate:
                auth.audit_row(db, officer, "sample_add", entry.sample_no,
                               verdict=entry.verdict, hold=result.hold_id)  # fmt: skip
    return done


async def sample_add(request: Request) -> Response:
    account: Account = request.scope["account"]
    form = await checked_form(request)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        entry = sampling.entry_from(values)
    except sampling.SampleError as error:
        return await samples(request, [str(error)], 400)
    w = web(request)
    (result,) = await w.db(
        _record_all, w.config.verify.county, [entry], account.username, w.clock()
    )
    if result.hold_id:
        return RedirectResponse(f"/admin/trace?hold={result.hold_id}", status_code=303)
    return RedirectResponse("/admin/samples", status_code=303)


async def sample_import(request: Request) -> Response:
    """A lab's CSV or Excel sheet: every row checked first; nothing is stored if one fails."""
    account: Account = request.scope["account"]
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await samples(request, ["请选择CSV或Excel文件"], 400)
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return await samples(request, ["文件过大（4 MB以内）"], 400)
    parsed = sampling.parse_import(data, upload.filename)
    if parsed.errors or not parsed.entries:
        return await samples(request, parsed.errors or ["文件中没有结果"], 400)
    w = web(request)
    done = await w.db(
        _record_all, w.config.verify.county, parsed.entries, account.username, w.clock()
    )
    new = [r for r in done if not r.duplicate]
    holds = [r.hold_id for r in new if r.hold_id]
    notice = f"导入{len(new)}条，重复{len(done) - len(new)}条，不合格暂停{len(holds)}条"
    return await samples(request, notice=notice)


# ---- traces ------------------------------------------------------------------------


def _trace_query(db: Database, request: Request, county: str, today: date) -> dict[str, Any]:
    q = request.query_params
    hold_id = (q.get("hold") or "").strip()[:16]
    product = (q.get("product") or "").strip()[:32]
    ids: set[str] = set()
    hold = None
    first = last = None
    if hold_id:
        hold = county_holds.get_hold(db, county, hold_id)
        if hold is None:
            raise LookupError("没有这条暂停")
        ids = set(hold.identifiers)
        product = hold.product_code
        placed = date.fromisoformat(hold.placed_at[:10])
        first = placed - timedelta(days=county_holds.TRACE_WINDOW_DAYS)
        sampled = db.query(
            "SELECT sampled_on FROM official_samples WHERE county = ? AND hold_id = ?",
            [county, hold_id],
        )
        if sampled:
            first = date.fromisoformat(sampled[0][0]) - timedelta(days=sampling.TRACE_BEFORE_DAYS)
        last = today
    else:
        kind, value = q.get("kind", ""), (q.get("value") or "").strip()[:64]
        if kind in IDENTIFIER_KINDS and value:
            ids = county_holds.producer_identifiers(db, county, {identifier(kind, value)})
    try:
        first = date.fromisoformat(q["from"]) if q.get("from") else first
        last = date.fromisoformat(q["to"]) if q.get("to") else last
    except ValueError:
        first = last = None
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    certs = tracing.trace(db, county, ids, product or "*", first, last) if ids else []
    return {"hold": hold, "identifiers": sorted(ids), "product": product or "*",
            "first": first.isoformat(), "last": last.isoformat(), "certificates": certs,
            "count": len(tracing.flatten(certs)),
            "markets": sorted({k.market for c in tracing.flatten(certs) for k in c.checkins}),
            "kinds": IDENTIFIER_KINDS, "query": request.url.query}  # fmt: skip


async def trace_page(request: Request) -> Response:
    w = web(request)
    try:
        data = await w.db(_trace_query, request, w.config.verify.county, w.clock().date())
    except LookupError as error:
        return error_page(request, 404, str(error))
    return _page(request, "admin_trace.html", data)


async def trace_export(request: Request) -> Response:
    account: Account = request.scope["account"]
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "xlsx"):
        return error_page(request, 404, "没有这种导出")
    w = web(request)

    def load(db: Database) -> dict[str, Any]:
        data = _trace_query(db, request, w.config.verify.county, w.clock().date())
        auth.audit(db, account.username, "export", "trace", format=fmt,
                   hold=data["hold"].hold_id if data["hold"] else None,
                   rows=data["count"])  # fmt: skip
        return data

    try:
        data = await w.db(load)
    except LookupError as error:
        return error_page(request, 404, str(error))
    rows = tracing.export_rows(data["certificates"])
    name = f"trace-{data['hold'].hold_id if data['hold'] else 'query'}-{data['last']}.{fmt}"
    if fmt == "csv":
        body, media = to_csv(tracing.EXPORT_HEAD, rows), "text/csv; charset=utf-8"
    else:
        body = to_xlsx("trace", tracing.EXPORT_HEAD, rows)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f'attachment; filename="{name}"'
    headers = {"content-disposition": disposition, "cache-control": "no-store"}
    return Response(body, media_type=media, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/admin/samples", VIEW(samples), methods=["GET"]),
        Route("/admin/samples", OFFICER(sample_add), methods=["POST"]),
        Route("/admin/samples/import", OFFICER(sample_import), methods=["POST"]),
        Route("/admin/trace", VIEW(trace_page), methods=["GET"]),
        Route("/admin/trace/export.{fmt}", OFFICER(trace_export), methods=["GET"]),
        *notice_routes(),
        *ledger_routes(),
        *grade_routes(),
        *statistics_routes(),
    ]


# ---- notices -------------------------------------------------------------------------


def _make_notice(db: Database, county: str, hold_id: str, officer: str, now: Any) -> str:
    """Number and keep a notice for a hold's trace (what it lists is fixed when issued)."""
    import json

    from station.devices import bump_version

    hold = county_holds.get_hold(db, county, hold_id)
    if hold is None:
        raise LookupError("没有这条暂停")
    first = date.fromisoformat(hold.placed_at[:10]) - timedelta(days=county_holds.TRACE_WINDOW_DAYS)
    sample = db.query(
        "SELECT sample_no, producer_name, product_name, place, sampled_on, lab, report_no, "
        "substance, value, limit_value, unit FROM official_samples WHERE county = ? "
        "AND hold_id = ?",
        [county, hold_id],
    )
    if sample:
        first = date.fromisoformat(sample[0][4]) - timedelta(days=sampling.TRACE_BEFORE_DAYS)
    certs = tracing.flatten(
        tracing.trace(db, county, set(hold.identifiers), hold.product_code, first, now.date())
    )
    with transaction(db):
        number = f"{now.year}-{bump_version(db, county, f'notice-{now.year}'):03d}"
        body = {
            "hold": hold.__dict__,
            "sample": list(sample[0]) if sample else None,
            "certificates": [
                {"number": c.number, "issued_at": c.issued_at, "device": c.device,
                 "where": f"{c.township} {c.service_point}", "issuer": c.issuer_name,
                 "quantity": f"{c.quantity}{c.unit}", "product": c.product_name,
                 "reissue": c.depth > 0, "markets": [k.market for k in c.checkins]}
                for c in certs
            ],
            "townships": sorted({c.township for c in certs}),
            "markets": sorted({k.market for c in certs for k in c.checkins}),
        }  # fmt: skip
        db.execute(
            "INSERT INTO notices (county, notice_no, hold_id, created_at, created_by, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [county, number, hold_id, now.isoformat(), officer,
             json.dumps(body, ensure_ascii=False)],
        )  # fmt: skip
        auth.audit_row(db, officer, "notice_issue", number, hold=hold_id)
    return number


async def notice_create(request: Request) -> Response:
    account: Account = request.scope["account"]
    await checked_form(request)
    w = web(request)
    hold_id = request.path_params["hold_id"][:16]
    try:
        number = await w.db(
            _make_notice, w.config.verify.county, hold_id, account.username, w.clock()
        )
    except LookupError as error:
        return error_page(request, 404, str(error))
    return RedirectResponse(f"/admin/notices/{number}", status_code=303)


async def notice_page(request: Request) -> Response:
    import json

    w = web(request)
    number = request.path_params["number"][:16]
    rows = await w.db(
        lambda db: db.query(
            "SELECT notice_no, hold_id, created_at, created_by, body FROM notices "
            "WHERE county = ? AND notice_no = ?",
            [w.config.verify.county, number],
        )
    )
    if not rows:
        return error_page(request, 404, "没有这份通报")
    no, hold_id, created_at, created_by, body = rows[0]
    context = {"no": no, "hold_id": hold_id, "created_at": created_at, "created_by": created_by,
               "n": json.loads(body), "county": w.config.verify.county}  # fmt: skip
    return _page(request, "notice.html", context)


def notice_routes() -> list[Route]:
    return [
        Route("/admin/notice/{hold_id}", OFFICER(notice_create), methods=["POST"]),
        Route("/admin/notices/{number}", VIEW(notice_page), methods=["GET"]),
    ]


# ---- the producer ledger ---------------------------------------------------------------


def masked(text: str) -> str:
    """ID numbers are personal data: the ledger shows the first 6 and last 4 digits."""
    kind, _, value = text.partition(":")
    if kind == "id_number" and len(value) > 10:
        return f"{kind}:{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"
    return text


async def ledger_page(
    request: Request, errors: list[str] | None = None, status: int = 200, notice: str = ""
) -> Response:
    w = web(request)
    county = w.config.verify.county
    search = (request.query_params.get("q") or "").strip()[:64]

    def load(db: Database) -> dict[str, Any]:
        return {"producers": ledger.producers(db, county, search),
                "duplicates": ledger.duplicates(db, county)}  # fmt: skip

    data = await w.db(load)
    context = {**data, "q": search, "errors": errors or [], "notice": notice, "mask": masked,
               "kinds": ledger.KINDS}  # fmt: skip
    return _page(request, "admin_ledger.html", context, status)


async def ledger_post(request: Request) -> Response:
    """Sync from certificates, import a roster, or merge two records (officer, audited)."""
    account: Account = request.scope["account"]
    form = await checked_form(request)
    w = web(request)
    county = w.config.verify.county
    action = str(form.get("action", ""))
    now = w.clock()
    rows: list[dict[str, str]] = []
    source = "national" if form.get("source") == "national" else "roster"
    if action == "import":
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await ledger_page(request, ["请选择CSV文件"], 400)
        rows, errors = ledger.parse_roster(await upload.read(MAX_UPLOAD_BYTES))
        if errors:
            return await ledger_page(request, errors, 400)

    def change(db: Database) -> str:
        with transaction(db):
            if action == "sync":
                added = ledger.sync_from_certificates(db, county, now)
                auth.audit_row(db, account.username, "ledger_sync", county, added=added)
                return f"从合格证新增{added}个主体"
            if action == "import":
                added = ledger.import_roster(db, county, rows, source, now)
                auth.audit_row(db, account.username, "ledger_import", source, added=added,
                               rows=len(rows))  # fmt: skip
                return f"导入{len(rows)}行，新增{added}个主体"
            if action == "merge":
                survivor = str(form.get("survivor", ""))[:16]
                merged = str(form.get("merged", ""))[:16]
                ledger.merge(db, county, survivor, merged)
                auth.audit_row(db, account.username, "ledger_merge", survivor, merged=merged)
                return f"{merged} 已并入 {survivor}"
        raise ledger.LedgerError("未知操作")

    try:
        notice = await w.db(change)
    except ledger.LedgerError as error:
        return await ledger_page(request, [str(error)], 400)
    return await ledger_page(request, notice=notice)


def ledger_routes() -> list[Route]:
    return [
        Route("/admin/ledger", VIEW(ledger_page), methods=["GET"]),
        Route("/admin/ledger", OFFICER(ledger_post), methods=["POST"]),
    ]


# ---- grades and credit ------------------------------------------------------------------


async def grades_page(
    request: Request, errors: list[str] | None = None, status: int = 200
) -> Response:
    w = web(request)
    county = w.config.verify.county

    def load(db: Database) -> dict[str, Any]:
        changes = db.query(
            "SELECT producer_id, old_grade, new_grade, causes, changed_at FROM grade_changes "
            "WHERE county = ? ORDER BY id DESC LIMIT 100",
            [county],
        )
        credit = db.query(
            "SELECT producer_id, kind, grade, reason, starts_at, expires_at, created_by FROM "
            "credit_events WHERE county = ? ORDER BY id DESC LIMIT 100",
            [county],
        )
        return {"grades": grading.stored(db, county), "changes": changes, "credit": credit}

    data = await w.db(load)
    context = {**data, "errors": errors or [], "rules": grading.rules_table(grading.GradingRules()),
               "kinds": grading.CREDIT_KINDS}  # fmt: skip
    return _page(request, "admin_grades.html", context, status)


async def credit_add(request: Request) -> Response:
    account: Account = request.scope["account"]
    form = await checked_form(request)
    w = web(request)
    now = w.clock()
    try:
        days = int(str(form.get("days") or "0"))
    except ValueError:
        return await grades_page(request, ["有效天数应为整数"], 400)
    expires = now + timedelta(days=days) if days > 0 else None

    def add(db: Database) -> None:
        with transaction(db):
            grading.add_credit_event(
                db, w.config.verify.county, producer_id=str(form.get("producer_id", ""))[:16],
                kind=str(form.get("kind", "")), grade=str(form.get("grade", "")) or None,
                reason=str(form.get("reason", "")), expires_at=expires, by=account.username,
                now=now,
            )  # fmt: skip
            target = str(form.get("producer_id", ""))
            kind, reason = str(form.get("kind", "")), str(form.get("reason", ""))
            auth.audit_row(db, account.username, "credit_add", target, kind=kind, reason=reason)

    try:
        await w.db(add)
    except grading.GradingError as error:
        return await grades_page(request, [str(error)], 400)
    return RedirectResponse("/admin/grades", status_code=303)


def grade_routes() -> list[Route]:
    return [
        Route("/admin/grades", VIEW(grades_page), methods=["GET"]),
        Route("/admin/grades/credit", OFFICER(credit_add), methods=["POST"]),
    ]


# ---- statistics -----------------------------------------------------------------------------


def _period(request: Request, today: date) -> statistics.Period:
    text = (request.query_params.get("period") or today.strftime("%Y-%m"))[:7]
    try:
        return statistics.Period.parse(text)
    except statistics.PeriodError:
        return statistics.Period.parse(today.strftime("%Y-%m"))


async def statistics_page(request: Request) -> Response:
    w = web(request)
    period = _period(request, w.clock().date())
    stats = await w.db(
        statistics.compute, w.config.verify.county, period, w.config.statistics.population
    )
    return _page(request, "admin_statistics.html", {"stats": stats, "period": period.label})


async def statistics_export(request: Request) -> Response:
    account: Account = request.scope["account"]
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "xlsx"):
        return error_page(request, 404, "没有这种导出")
    w = web(request)
    period = _period(request, w.clock().date())

    def load(db: Database) -> statistics.Statistics:
        stats = statistics.compute(db, w.config.verify.county, period,
                                   w.config.statistics.population)  # fmt: skip
        auth.audit(db, account.username, "export", "statistics", period=period.label, format=fmt)
        return stats

    rows = statistics.export_rows(await w.db(load))
    if fmt == "csv":
        body, media = to_csv(statistics.HEAD, rows), "text/csv; charset=utf-8"
    else:
        body = to_xlsx("statistics", statistics.HEAD, rows)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"statistics-{period.label}.{fmt}"
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return Response(body, media_type=media, headers=headers)


def statistics_routes() -> list[Route]:
    return [
        Route("/admin/statistics", VIEW(statistics_page), methods=["GET"]),
        Route("/admin/statistics/export.{fmt}", OFFICER(statistics_export), methods=["GET"]),
    ]
