"""Kit and reagent lots: what a run was done with, and the strip cut-offs each lot brings.

A colloidal-gold strip's cut-off and control-line rule are properties of the kit lot
(the insert of each lot states them), not of the method: a kit lot file carries them and
the run uses the lot's numbers, stored in the run's method snapshot so a verdict still
recomputes. An enzyme reagent lot carries no numbers, only its identity and expiry.

A lot is named by typing its number or by scanning the kit's barcode; GS1 element strings
are read for AI (10) batch/lot and AI (17) expiry (YYMMDD; day 00 = the month's end). A
lot that is expired, or not registered here from its file, refuses to start a run.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from kiosk.domain.rapidtest_methods import EnzymeMethod, StripMethod

#: Keys a strip kit lot may set; anything else in [strip] is refused.
STRIP_KEYS = ("t_c_cutoff", "suspicious_band", "c_min_height", "read_window_min")
_LOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,31}$")
_GS = "\x1d"


class KitLotError(ValueError):
    """The lot file or the scanned code cannot be used; the message says why (zh-CN)."""


@dataclass(frozen=True)
class KitLot:
    lot: str
    method_id: str
    expires_on: date
    maker: str = ""
    #: Strip lots: the insert's cut-offs and control-line rule (STRIP_KEYS).
    strip: tuple[tuple[str, Any], ...] = ()

    def expired(self, today: date) -> bool:
        """A lot may be used on its expiry day, not after."""
        return today > self.expires_on

    def applied_to(self, method: EnzymeMethod | StripMethod) -> EnzymeMethod | StripMethod:
        """The method with this lot's numbers (what the run stores and computes with)."""
        if isinstance(method, StripMethod) and self.strip:
            values: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list | tuple) else v for k, v in self.strip
            }
            return replace(method, **values)
        return method


def check_lot_number(text: str) -> str:
    lot = (text or "").strip()
    if not _LOT.match(lot):
        raise KitLotError("批号只能含字母、数字和 - _ .，最多32位")
    return lot


def parse_lot_file(text: str) -> KitLot:
    """A kit lot file (TOML): lot, method, expires (YYYY-MM-DD), maker, [strip] numbers."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KitLotError(f"批号文件格式错误：{error}") from None
    unknown = set(doc) - {"lot", "method", "expires", "maker", "strip"}
    if unknown:
        raise KitLotError(f"批号文件有未知项：{'、'.join(sorted(unknown))}")
    lot = check_lot_number(str(doc.get("lot", "")))
    method_id = doc.get("method")
    if not isinstance(method_id, str) or not method_id:
        raise KitLotError("批号文件须写明方法（method）")
    expires = doc.get("expires")
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            expires = None
    if not isinstance(expires, date):
        raise KitLotError("批号文件须写明有效期（expires = 2027-05-31）")
    strip = doc.get("strip", {})
    if not isinstance(strip, dict) or set(strip) - set(STRIP_KEYS):
        raise KitLotError(f"[strip] 只能包含：{'、'.join(STRIP_KEYS)}")
    for key, value in strip.items():
        numbers = value if isinstance(value, list) else [value]
        if not numbers or not all(
            isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 for n in numbers
        ):
            raise KitLotError(f"[strip] {key} 须为非负数")
    if strip.get("t_c_cutoff", 1) <= 0:
        raise KitLotError("[strip] t_c_cutoff 须大于0")
    window = strip.get("read_window_min")
    if window is not None and (len(window) != 2 or not window[0] < window[1]):
        raise KitLotError("[strip] read_window_min 须为 [最早, 最晚] 分钟")
    values = tuple(
        (k, [float(n) for n in v] if isinstance(v, list) else float(v))
        for k, v in sorted(strip.items())
    )
    maker = str(doc.get("maker", ""))[:40]
    return KitLot(lot, method_id, expires, maker, values)


def parse_scan(code: str) -> tuple[str, date | None]:
    """Lot number and expiry from a kit barcode: a GS1 element string (AI 10 lot, AI 17
    expiry, parenthesised or with GS separators), else the code itself as the lot."""
    code = (code or "").strip()
    if code.startswith("]"):  # symbology identifier, e.g. ]C1 or ]d2
        code = code[3:]
    fields: dict[str, str] = {}
    if code.startswith("("):
        for ai, value in re.findall(r"\((\d{2,4})\)([^(]*)", code):
            fields[ai] = value
    elif code[:2] in ("01", "17", "10") and len(code) > 16:
        rest = code
        while rest:
            ai = rest[:2]
            if ai == "01":
                fields[ai], rest = rest[2:16], rest[16:]
            elif ai == "17":
                fields[ai], rest = rest[2:8], rest[8:]
            elif ai == "10":
                value, _, rest = rest[2:].partition(_GS)
                fields[ai] = value
            else:
                break
            rest = rest.lstrip(_GS)
    if "10" not in fields:
        return check_lot_number(code), None
    lot = check_lot_number(fields["10"])
    expiry = fields.get("17")
    if expiry is None:
        return lot, None
    if not re.fullmatch(r"\d{6}", expiry):
        raise KitLotError(f"条码中的有效期 {expiry} 看不懂")
    year, month, day = 2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:])
    if not 1 <= month <= 12:
        raise KitLotError(f"条码中的有效期 {expiry} 看不懂")
    day = day or calendar.monthrange(year, month)[1]
    try:
        return lot, date(year, month, day)
    except ValueError:
        raise KitLotError(f"条码中的有效期 {expiry} 看不懂") from None
