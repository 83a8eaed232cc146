"""The county's hold list: every producer the county has stopped from printing certificates.

One signed document (``wire/documents.py``, the county key that signs trust lists and
config bundles) holds every open county-wide hold and the holds lifted recently. It is
published retained on ``{prefix}/{county}/holds`` (``wire.topics.holds_topic``), so a
kiosk that was offline gets the newest list as soon as it reconnects. The whole list
travels each time, so a kiosk never has to merge: it replaces its copy with a newer
version and refuses one that is not newer (a replayed or delayed document).

A hold names its producer by every identifier the county knows (``IDENTIFIER_KINDS``);
a kiosk refuses a request that matches any of them. Identifiers are compared as text
``"{kind}:{value}"`` (``identifier``), the same on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wire.documents import SignatureError, open_document, sign_document
from wire.signing import SigningKey

DOCUMENT_TYPE = "agriqs.hold-list"
#: Producer id (a kiosk card or the county ledger), phone, national 主体码, ID number.
IDENTIFIER_KINDS = ("producer_id", "phone", "platform_code", "id_number")
#: ``product_code`` that holds every product of the producer.
ALL_PRODUCTS = "*"
#: Where a hold came from.
SOURCES = ("kiosk_positive", "official_sample", "officer")
#: Kiosk policy by grade (docs/enforcement.md): green is never listed (all bases);
#: yellow: 质量安全控制符合要求 only with a negative test in the last ``test_days``;
#: red: only a same-day 自行检测 or 委托检测; untrusted (失信): refused, with whom to call.
GRADES = ("yellow", "red", "untrusted")


class HoldListError(ValueError):
    """The hold list cannot be used: bad signature, malformed, wrong county, or old."""


def identifier(kind: str, value: str) -> str:
    """The text both sides compare: ``phone:13812345678``."""
    if kind not in IDENTIFIER_KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return f"{kind}:{value.strip()}"


def producer_key_identifiers(producer_key: str) -> set[str]:
    """What a kiosk's ``producer_key`` says about its producer (``tel:`` keys are phones)."""
    if producer_key.startswith("tel:"):
        return {identifier("phone", producer_key[4:])}
    return {identifier("producer_id", producer_key)}


@dataclass(frozen=True)
class Origin:
    """The kiosk hold a county hold was made from (a confirmed positive at that kiosk)."""

    device: str
    hold_id: int


@dataclass(frozen=True)
class CountyHold:
    hold_id: str
    identifiers: tuple[str, ...]
    product_code: str
    reason: str
    source: str
    placed_at: str
    contact: str = ""
    origin: Origin | None = None

    def to_body(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold_id,
            "identifiers": sorted(self.identifiers),
            "product_code": self.product_code,
            "reason": self.reason,
            "source": self.source,
            "placed_at": self.placed_at,
            "contact": self.contact,
            "origin": _origin_body(self.origin),
        }


@dataclass(frozen=True)
class LiftedHold:
    hold_id: str
    lifted_at: str
    lifted_by: str
    origin: Origin | None = None

    def to_body(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold_id,
            "lifted_at": self.lifted_at,
            "lifted_by": self.lifted_by,
            "origin": _origin_body(self.origin),
        }


def _origin_body(origin: Origin | None) -> dict[str, Any] | None:
    return None if origin is None else {"device": origin.device, "hold_id": origin.hold_id}


@dataclass(frozen=True)
class Grade:
    """A producer's risk grade or credit state that changes what a kiosk offers."""

    identifiers: tuple[str, ...]
    grade: str
    reason: str
    contact: str = ""
    test_days: int = 7

    def to_body(self) -> dict[str, Any]:
        return {
            "identifiers": sorted(self.identifiers),
            "grade": self.grade,
            "reason": self.reason,
            "contact": self.contact,
            "test_days": self.test_days,
        }


@dataclass(frozen=True)
class Notice:
    """A county notice (通报) for the kiosks that printed the certificates it lists."""

    number: str
    title: str
    text: str
    devices: tuple[str, ...]
    issued_at: str

    def to_body(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "text": self.text,
            "devices": sorted(self.devices),
            "issued_at": self.issued_at,
        }


@dataclass(frozen=True)
class HoldList:
    county: str
    version: int
    issued_at: datetime
    holds: tuple[CountyHold, ...] = field(default=())
    lifted: tuple[LiftedHold, ...] = field(default=())
    grades: tuple[Grade, ...] = field(default=())
    notices: tuple[Notice, ...] = field(default=())

    def content(self) -> dict[str, Any]:
        """What the list says, without version and time (equal content: nothing to send)."""
        return {
            "holds": [h.to_body() for h in sorted(self.holds, key=lambda h: h.hold_id)],
            "lifted": [x.to_body() for x in sorted(self.lifted, key=lambda x: x.hold_id)],
            "grades": sorted((g.to_body() for g in self.grades), key=lambda g: g["identifiers"]),
            "notices": [n.to_body() for n in sorted(self.notices, key=lambda n: n.number)],
        }

    def to_body(self) -> dict[str, Any]:
        return {
            "type": DOCUMENT_TYPE,
            "county": self.county,
            "version": self.version,
            "issued_at": self.issued_at.isoformat(),
            **self.content(),
        }

    def sign(self, county_key: SigningKey) -> dict[str, str]:
        return sign_document(self.to_body(), county_key)

    def matching(self, identifiers: Iterable[str], product_code: str) -> list[CountyHold]:
        wanted = set(identifiers)
        return [
            h
            for h in self.holds
            if h.product_code in (product_code, ALL_PRODUCTS) and wanted & set(h.identifiers)
        ]


def _text(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise HoldListError(f"{name}: expected text, got {value!r}")
    return value


def _origin(value: Any) -> Origin | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise HoldListError(f"origin: expected an object, got {value!r}")
    hold_id = value.get("hold_id")
    if not isinstance(hold_id, int) or isinstance(hold_id, bool):
        raise HoldListError(f"origin.hold_id: expected an integer, got {hold_id!r}")
    return Origin(_text(value.get("device"), "origin.device"), hold_id)


def _identifiers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise HoldListError("identifiers: a hold names its producer by at least one identifier")
    out = []
    for item in value:
        text = _text(item, "identifier")
        kind, _, rest = text.partition(":")
        if kind not in IDENTIFIER_KINDS or not rest:
            raise HoldListError(f"identifier {text!r}: not kind:value of {IDENTIFIER_KINDS}")
        out.append(text)
    return tuple(out)


def parse_hold_list(document: Any, anchors: list[bytes], county: str) -> HoldList:
    """Check the county's signature, the document type and the county; read the list."""
    try:
        body = open_document(document, anchors)
    except SignatureError as error:
        raise HoldListError(f"hold list rejected: {error}") from None
    if body.get("type") != DOCUMENT_TYPE:
        raise HoldListError(f"not a hold list (type {body.get('type')!r})")
    if body.get("county") != county:
        raise HoldListError(f"hold list for county {body.get('county')!r}, not {county!r}")
    try:
        version = body["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise HoldListError(f"version: expected a positive integer, got {version!r}")
        issued_at = datetime.fromisoformat(_text(body["issued_at"], "issued_at"))
        if issued_at.tzinfo is None:
            raise HoldListError("issued_at: a time without a UTC offset")
        holds = tuple(
            CountyHold(
                hold_id=_text(h["hold_id"], "hold_id"),
                identifiers=_identifiers(h["identifiers"]),
                product_code=_text(h["product_code"], "product_code"),
                reason=_text(h["reason"], "reason"),
                source=_text(h["source"], "source"),
                placed_at=_text(h["placed_at"], "placed_at"),
                contact=_text(h.get("contact", ""), "contact", empty=True),
                origin=_origin(h.get("origin")),
            )
            for h in body["holds"]
        )
        lifted = tuple(
            LiftedHold(
                hold_id=_text(x["hold_id"], "hold_id"),
                lifted_at=_text(x["lifted_at"], "lifted_at"),
                lifted_by=_text(x["lifted_by"], "lifted_by"),
                origin=_origin(x.get("origin")),
            )
            for x in body["lifted"]
        )
        grades = tuple(_grade(g) for g in body.get("grades", []))
        notices = tuple(
            Notice(
                number=_text(n["number"], "notice.number"),
                title=_text(n["title"], "notice.title"),
                text=_text(n["text"], "notice.text"),
                devices=tuple(_text(d, "notice.devices") for d in n["devices"]),
                issued_at=_text(n["issued_at"], "notice.issued_at"),
            )
            for n in body.get("notices", [])
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, HoldListError):
            raise
        raise HoldListError(f"hold list malformed: {error!r}") from None
    return HoldList(str(body["county"]), version, issued_at, holds, lifted, grades, notices)


def _grade(value: Any) -> Grade:
    if not isinstance(value, Mapping):
        raise HoldListError(f"grade: expected an object, got {value!r}")
    grade = value.get("grade")
    if grade not in GRADES:
        raise HoldListError(f"grade: one of {GRADES}, not {grade!r}")
    days = value.get("test_days", 7)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
        raise HoldListError(f"grade.test_days: 0..365, not {days!r}")
    return Grade(
        identifiers=_identifiers(value.get("identifiers")),
        grade=str(grade),
        reason=_text(value.get("reason"), "grade.reason"),
        contact=_text(value.get("contact", ""), "grade.contact", empty=True),
        test_days=days,
    )
