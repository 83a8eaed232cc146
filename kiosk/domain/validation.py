"""Checks on what a farmer typed or scanned, before anything is written or printed.

Every refusal names the field and says, in plain words, what to do instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from kiosk.domain.catalogue import Catalogue, OutOfScopeError, Template
from kiosk.domain.model import COUNT_UNITS, UNIT_MAXIMUM, Basis, CertificateRequest, Style

#: A registered 主体 name (a cooperative's full name runs past 16 characters:
#: 巴中市巴州区清江镇绿源蔬菜专业合作社 is 18); the label wraps it.
MAX_ISSUER_CHARS = 50
MAX_ORIGIN_CHARS = 24
MAX_REF_CHARS = 20
MAX_LAB_CHARS = 30
#: Products whose certificate lists every animal's ear tag (肉牛).
EAR_TAGGED = frozenset({"L002"})
_QUARANTINE = re.compile(r"^[A-Z0-9]{6,20}$")
_EAR_TAG = re.compile(r"^\d{15}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]*$")


@dataclass
class InputError(ValueError):
    """One refused field: ``field`` for the UI to highlight, ``code`` for translations."""

    field: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


#: Characters that draw nothing although Unicode calls them letters or symbols (braille
#: blank, the Hangul fillers, the combining grapheme joiner, Khmer inherent vowels): a name
#: made of them prints as a blank on the label and on the county's page.
INVISIBLE = frozenset("\u2800\u3164\u115f\u1160\uffa0\u034f\u17b4\u17b5")


def _has_control(text: str) -> bool:
    """Control, format (zero-width, bidi overrides such as U+202E), surrogate, private-use,
    line/paragraph separators, or an invisible letter."""
    return any(
        unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") or c in INVISIBLE
        for c in text
    )


#: What makes a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting with a formula
    prefix gets a leading apostrophe (numbers pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def check_text(value: str, field: str, label: str, minimum: int, maximum: int) -> str:
    """Free text checked like issuance fields: printable, visible, within its length.

    Every command and screen that stores a person's words (names, void reasons, notes)
    uses it, so no newline, ESC, bidi override or invisible name reaches the database,
    a label or an export."""
    return _text(value, field, label, minimum, maximum)


def _text(value: str, field: str, label: str, minimum: int, maximum: int) -> str:
    if not isinstance(value, str):
        raise InputError(field, "type", f"{label}必须是文字")
    if _has_control(value):
        raise InputError(field, "control", f"{label}含有不可打印的字符，请重新输入")
    text = value.strip()
    if len(text) < minimum:
        raise InputError(field, "empty", f"请填写{label}")
    if len(text) > maximum:
        raise InputError(field, "too_long", f"{label}最多{maximum}个字（现在{len(text)}个）")
    return text


_ASCII_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def parse_quantity(value: object) -> Decimal:
    text = str(value).strip()
    if not isinstance(value, Decimal) and not _ASCII_NUMBER.match(text):
        # Decimal() takes Arabic-Indic and full-width digits too: ASCII only here.
        raise InputError("quantity", "not_number", "数量必须是数字，例如 12.5")
    try:
        quantity = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InputError("quantity", "not_number", "数量必须是数字，例如 12.5") from None
    if not quantity.is_finite():
        raise InputError("quantity", "not_number", "数量必须是数字，例如 12.5")
    return quantity


#: Area codes of three digits (Beijing 010, 02x cities); every other is four (0827 巴中).
_THREE_DIGIT_AREA = re.compile(r"^0(10|2\d)")


def format_phone(value: str) -> str:
    """A mobile as 11 digits; a landline as area code, hyphen, number (``0827-5551234``)
    however it was typed; ``InputError`` naming ``issuer.phone`` otherwise."""
    phone = value.strip().replace(" ", "")
    if _MOBILE.match(phone):
        return phone
    if _LANDLINE.match(phone):
        digits = phone.replace("-", "")
        area = 3 if _THREE_DIGIT_AREA.match(digits) else 4
        number = digits[area:]
        if 7 <= len(number) <= 8:
            return f"{digits[:area]}-{number}"
    raise InputError("issuer.phone", "phone", "联系电话格式不对：请输入11位手机号或带区号的座机号")


def validate_livestock(
    product_code: str, category: str, unit: str, quantity: Decimal,
    quarantine_cert: str | None, ear_tags: tuple[str, ...],
) -> tuple[str | None, tuple[str, ...]]:  # fmt: skip
    """畜禽: the 动物检疫合格证明 number; cattle also every ear tag (肉牛流通全程追溯)."""
    cert = (quarantine_cert or "").strip().upper() or None
    tags = tuple(dict.fromkeys(t.strip() for t in ear_tags if t and t.strip()))
    if category != "livestock":
        if cert or tags:
            raise InputError("quarantine_cert", "category", "只有畜禽填写检疫证明和耳标")
        return None, ()
    if cert is None:
        raise InputError("quarantine_cert", "required", "畜禽须填写《动物检疫合格证明》编号")
    if not _QUARANTINE.match(cert):
        raise InputError("quarantine_cert", "format", "动物检疫合格证明编号为6到20位字母或数字")
    if product_code in EAR_TAGGED:
        bad = [t for t in tags if not _EAR_TAG.match(t)]
        if bad:
            raise InputError("ear_tags", "format", f"耳标号应为15位数字：{bad[0]}")
        if unit != "头":
            raise InputError("unit", "unit", "肉牛按头开具，并逐头填写耳标号")
        if len(tags) != int(quantity):
            raise InputError(
                "ear_tags",
                "count",
                f"{int(quantity)}头牛须有{int(quantity)}个耳标号（现在{len(tags)}个）",
            )
    elif tags:
        raise InputError("ear_tags", "product", "只有肉牛填写耳标号")
    return cert, tags


def validate_request(
    request: CertificateRequest, catalogue: Catalogue, template: Template, copies_max: int
) -> CertificateRequest:
    """The request with whitespace trimmed, or InputError for the first bad field."""
    name = _text(request.issuer.name, "issuer.name", "开具人名称", 1, MAX_ISSUER_CHARS)
    if name.isdigit():
        raise InputError("issuer.name", "digits", "开具人名称不能只有数字")
    phone = format_phone(str(request.issuer.phone))
    try:
        product = catalogue.product_for_certificate(request.product_code)
    except OutOfScopeError as error:
        raise InputError("product", "out_of_scope", str(error)) from None
    if request.unit not in product.units:
        raise InputError("unit", "unit", f"{product.name}的单位只能是：{'、'.join(product.units)}")
    quantity = parse_quantity(request.quantity)
    if quantity <= 0:
        raise InputError("quantity", "not_positive", "数量必须大于0")
    if quantity > UNIT_MAXIMUM[request.unit]:
        raise InputError(
            "quantity",
            "implausible",
            f"数量{quantity}{request.unit}超过单张合格证的上限"
            f"{UNIT_MAXIMUM[request.unit]}{request.unit}，请核对或分批开具",
        )
    if request.unit in COUNT_UNITS and quantity != quantity.to_integral_value():
        raise InputError("quantity", "whole", f"按{request.unit}计数时数量必须是整数")
    exponent = quantity.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InputError("quantity", "decimals", "数量最多保留两位小数")
    origin = _text(request.origin, "origin", "产地", 2, MAX_ORIGIN_CHARS)
    basis = Basis(request.basis)
    if basis not in template.bases:
        raise InputError("basis", "basis", "该模板不支持这种承诺依据")
    test_ref = (request.test_ref or "").strip() or None
    if basis.needs_test and not test_ref:
        raise InputError(
            "test_ref", "test_required", "选择了检测合格作为依据，请提供检测编号或检测报告编号"
        )
    if test_ref and (len(test_ref) > MAX_REF_CHARS or not _REFERENCE.match(test_ref)):
        raise InputError("test_ref", "reference", "检测编号只能含字母、数字和连字符，最多20位")
    quarantine_cert, ear_tags = validate_livestock(
        product.code, product.category, request.unit, quantity,
        request.quarantine_cert, tuple(request.ear_tags),
    )  # fmt: skip
    lab_name = (request.lab_name or "").strip() or None
    if basis is Basis.COMMISSIONED_TEST:
        lab_name = _text(lab_name or "", "lab_name", "检测机构名称", 2, MAX_LAB_CHARS)
    elif lab_name:
        raise InputError("lab_name", "basis", "只有委托检测合格才填写检测机构")
    unknown = [code for code in request.inputs_used if code not in catalogue.inputs]
    if unknown:
        raise InputError("inputs_used", "unknown_input", f"未知的投入品类别：{'、'.join(unknown)}")
    source = (request.source_certificate or "").strip() or None
    if source and (len(source) > 24 or not _REFERENCE.match(source)):
        raise InputError("source_certificate", "reference", "来源合格证编号格式不对")
    if request.style is Style.PRODUCER and source:
        raise InputError("source_certificate", "style", "样式一（生产者开具）不填写来源合格证")
    sources = tuple(s.strip() for s in request.sources if s and s.strip())
    if request.style is Style.PRODUCER and sources:
        raise InputError("sources", "style", "样式一（生产者开具）不填写来源合格证")
    if any(len(s) > 2000 or _has_control(s) for s in sources):
        raise InputError("sources", "malformed", "来源合格证二维码无法识别")
    if source and source not in sources:
        sources = (source, *sources)  # a typed number is one more source
    if not isinstance(request.copies, int) or not 1 <= request.copies <= copies_max:
        raise InputError("copies", "copies", f"打印份数为1到{copies_max}张")
    return CertificateRequest(
        issuer=type(request.issuer)(name=name, phone=phone, producer_id=request.issuer.producer_id),
        product_code=product.code,
        quantity=quantity,
        unit=request.unit,
        origin=origin,
        basis=basis,
        style=Style(request.style),
        inputs_used=tuple(dict.fromkeys(request.inputs_used)),
        test_ref=test_ref,
        source_certificate=source,
        copies=request.copies,
        lab_name=lab_name,
        sources=sources,
        quarantine_cert=quarantine_cert,
        ear_tags=ear_tags,
    )
