"""Market pages: the market's own statistics, the scan desk (a USB scanner at the gate
records each scan without a tap) and 无证反馈 (produce that arrived without a certificate).

A market account sees and records only its own market: every query here is bound to
``account.market_id``, never to a market named in the request.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from station import queries
from station.db import Database
from station.web.app import checked_form, current_account, error_page, render, requires, web
from station.web.auth import COUNTY_ROLES, Account, Role
from station.web.public import payload_of, record_checkin, verify_payload
from station.web.store import transaction

log = logging.getLogger(__name__)

#: Photos are re-encoded (which drops EXIF: the phone's GPS position and serial
#: number) and scaled to fit this box.
PHOTO_MAX_SIDE = 1280
PHOTO_MAX_UPLOAD = 8 * 1024 * 1024
#: A decompression bomb (a tiny file claiming a huge image) is refused before decoding.
PHOTO_MAX_PIXELS = 40_000_000


async def market_home(request: Request) -> Response:
    account: Account = request.scope["account"]
    w = web(request)
    today = w.clock().date()
    window = queries.Window.ending(today, 7)

    def load(db: Database) -> dict:
        return {
            "stats": queries.market_stats(db, window, account.market_id),
            "checkins": queries.recent_checkins(db, account.market_id, 30),
            "uncertified": queries.recent_uncertified(db, account.market_id, 10),
        }

    return render(request, "market.html", await w.db(load))


async def desk_form(request: Request) -> Response:
    return render(request, "desk.html", {"result": None, "error": None})


async def desk_scan(request: Request) -> Response:
    """One scan from the gate's scanner: verify, record, show the verdict, ready again."""
    account: Account = request.scope["account"]
    form = await checked_form(request)
    text = str(form.get("code", ""))[:4000]
    payload = payload_of(text)
    result = await verify_payload(request, payload)
    if result.fields is None:
        return render(request, "desk.html", {"result": result, "error": "无法识别"}, 400)
    w = web(request)
    await w.db(record_checkin, account, result, "desk", w.clock())
    return render(request, "desk.html", {"result": result, "error": None})


async def uncertified_form(request: Request) -> Response:
    return render(request, "uncertified.html", {"error": None, "saved": False})


def clean_photo(raw: bytes) -> bytes:
    """A JPEG of the upload without its metadata; ValueError when it is not an image."""
    Image.MAX_IMAGE_PIXELS = PHOTO_MAX_PIXELS
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > PHOTO_MAX_PIXELS:
                raise ValueError("照片像素过多")
            upright = ImageOps.exif_transpose(image).convert("RGB")
            upright.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
            out = io.BytesIO()
            upright.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError):
        raise ValueError("上传的文件不是图片") from None


async def uncertified_submit(request: Request) -> Response:
    account: Account = request.scope["account"]
    form = await checked_form(request)
    product = str(form.get("product", "")).strip()[:64]
    quantity = str(form.get("quantity", "")).strip()[:32]
    supplier = str(form.get("supplier", "")).strip()[:64]
    if not product or not quantity:
        return render(request, "uncertified.html",
                      {"error": "请填写产品和数量", "saved": False}, 400)  # fmt: skip
    photo = None
    upload = form.get("photo")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(PHOTO_MAX_UPLOAD + 1)
        if len(raw) > PHOTO_MAX_UPLOAD:
            return render(request, "uncertified.html",
                          {"error": "照片过大（最大 8 MB）", "saved": False}, 400)  # fmt: skip
        if raw:
            try:
                photo = clean_photo(raw)
            except ValueError as error:
                return render(request, "uncertified.html",
                              {"error": str(error), "saved": False}, 400)  # fmt: skip
    w = web(request)
    now: datetime = w.clock()

    def save(db: Database) -> None:
        with transaction(db):
            db.execute(
                "INSERT INTO uncertified_reports (market_id, account_id, product, quantity, "
                "supplier, photo, reported_at, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [account.market_id, account.id, product, quantity, supplier, photo,
                 now.isoformat(timespec="seconds"), now.date().isoformat()],
            )  # fmt: skip

    await w.db(save)
    return render(request, "uncertified.html", {"error": None, "saved": True})


async def uncertified_photo(request: Request) -> Response:
    """A report's photo: to its own market's accounts and to county staff only."""
    account = await current_account(request)
    if account is None:
        return error_page(request, 403, "请先登录")
    report_id = int(request.path_params["id"])

    def load(db: Database) -> tuple | None:
        rows = db.query(
            "SELECT market_id, photo FROM uncertified_reports WHERE id = ?", [report_id]
        )
        return rows[0] if rows else None

    row = await web(request).db(load)
    allowed = account.role in COUNTY_ROLES or (row is not None and row[0] == account.market_id)
    if row is None or row[1] is None or not allowed:
        return error_page(request, 404, "没有这张照片")
    return Response(bytes(row[1]), media_type="image/jpeg",
                    headers={"cache-control": "private, no-store"})  # fmt: skip


def routes() -> list[Route]:
    market_staff = requires(Role.INSPECTOR, Role.BUYER)
    inspector = requires(Role.INSPECTOR)
    return [
        Route("/market/", market_staff(market_home)),
        Route("/market/desk", inspector(desk_form), methods=["GET"]),
        Route("/market/desk", inspector(desk_scan), methods=["POST"]),
        Route("/market/uncertified", inspector(uncertified_form), methods=["GET"]),
        Route("/market/uncertified", inspector(uncertified_submit), methods=["POST"]),
        Route("/market/uncertified/{id:int}/photo", uncertified_photo),
    ]
