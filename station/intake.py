"""Turning an MQTT message into a stored event, or a quarantine reason.

Every check a hostile or buggy kiosk could fail is here, in order: size, JSON,
envelope schema, data schema, the topic kind, and that the topic's county/device
match the envelope (a kiosk may not speak for another; the broker
ACL binds a kiosk's login to its own topics, this binds the content to the topic).
The topic's shape is checked before, by ``wire.topics.parse_topic``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from station.db import DeviceState, Event
from wire.events import EventContractError, SchemaBook, check
from wire.topics import Topic

log = logging.getLogger(__name__)

#: Largest accepted message: a certificate event is ~1 KiB; 64 KiB leaves room for
#: alarm details while keeping a flood of junk from reaching the database.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Deepest nesting accepted: an envelope is 4 levels deep. Checked before parsing, so
#: 30,000 brackets within the size limit never reach the recursive parser.
MAX_DEPTH = 16
#: Integers beyond this cannot be stored in a 64-bit column or read exactly by a
#: JavaScript page (2**53 - 1); the schemas bound every integer tighter still.
MAX_INT = 2**53 - 1
#: Characters no stored string may hold (any string, keys included): NUL (PostgreSQL
#: text refuses it), other C0 controls but tab/LF/CR, DEL, and lone surrogates (not
#: encodable: SQLite and psycopg refuse them).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class Rejected(ValueError):
    """The message cannot be stored as an event; ``str()`` is the quarantine reason."""


def _first_error(validate: Callable[[Any], Any], instance: Any, what: str) -> None:
    try:
        check(validate, instance, what)
    except EventContractError as error:
        raise Rejected(str(error)[:300]) from None


def _check_depth(payload: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH without recursion: strings are cut out, the
    brackets left are counted. (json.loads would raise RecursionError, and a validator
    walking a deep document could too.)"""
    brackets = _STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * MAX_DEPTH:
        return
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            raise Rejected(f"nested deeper than {MAX_DEPTH} levels")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_INT:
        raise Rejected(f"integer out of range: {text[:24]}")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Rejected(f"number out of range: {text[:24]}")
    return value


def _parse_constant(text: str) -> float:
    raise Rejected(f"not a JSON number: {text}")


#: One decoder for every message (``json.loads`` with hooks builds a decoder per call).
_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)
#: The same without the integer hook (a Python call per integer, ~5 % of a message's
#: checks): for payloads with no run of 16 digits, whose integers all lie far inside
#: MAX_INT (at most 15 digits, below 10**15).
_DECODER_SHORT_INTS = json.JSONDecoder(parse_float=_parse_float, parse_constant=_parse_constant)
#: Digits to "0", every other byte to " ": a run of 16 digits is then a plain substring
#: search (a regex for it costs ~9 µs a message, this ~1 µs).
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_DIGITS = b"0" * 16


def _check_strings(doc: Any) -> None:
    """Every string and key in the document is storable text (iterative: no recursion)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if _FORBIDDEN.search(key):
                    raise Rejected(f"forbidden character in key {ascii(key)[:60]}")
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and (bad := _FORBIDDEN.search(item)):
            raise Rejected(f"forbidden character U+{ord(bad.group()):04X} in a string")


def _decode(payload: bytes) -> tuple[Any, str]:
    """The parsed JSON document and its text, or Rejected: size, depth, UTF-8, syntax,
    number range and characters are checked here for every message, whatever its schema
    says."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"oversized: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    # Fast path: no deeper than its count of opening brackets (an envelope has 3 or 4),
    # so the string-stripping scan runs only for documents that might be deep.
    if payload.count(b"{") + payload.count(b"[") > MAX_DEPTH:
        _check_depth(payload)
    try:
        text = payload.decode("utf-8")
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        long_digits = _LONG_DIGITS in payload.translate(_DIGITS_AS_ZERO)
        decoder = _DECODER if long_digits else _DECODER_SHORT_INTS
        doc = decoder.decode(text)
    except UnicodeDecodeError as exc:
        raise Rejected(f"malformed: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"malformed JSON: {exc.msg} at line {exc.lineno} col {exc.colno}") from None
    except RecursionError:
        raise Rejected(f"nested deeper than {MAX_DEPTH} levels") from None
    # Fast path: a forbidden character can only arrive as a backslash-u escape or a raw DEL
    # (json.loads refuses raw controls in strings, the UTF-8 decoder raw surrogates).
    if b"\\u" in payload or b"\x7f" in payload:
        _check_strings(doc)
    return doc, text


def parse_event(schemas: SchemaBook, topic: Topic, payload: bytes) -> Event:
    """A validated event from an ``evt/<kind>`` message, or Rejected with the reason."""
    doc, text = _decode(payload)
    _first_error(schemas.envelope, doc, "envelope")
    key = (doc["schema"], doc["version"])
    schema = schemas.data.get(key)
    if schema is None:
        raise Rejected(f"unknown schema {doc['schema']} version {doc['version']}")
    _first_error(schema.validate, doc["data"], f"data of {doc['schema']}")
    if schema.kind != topic.kind:
        raise Rejected(f"schema {doc['schema']} belongs on evt/{schema.kind}, not evt/{topic.kind}")
    if (doc["county"], doc["device"]) != (topic.county, topic.device):
        raise Rejected(
            f"envelope speaks for {doc['county']}/{doc['device']} "
            f"but arrived on {topic.county}/{topic.device}'s topic"
        )
    if doc["id"] != f"{doc['device']}:{doc['seq']}":
        raise Rejected(f"id {doc['id']!r} does not match device and seq")
    _check_owned(doc["schema"], doc["data"], doc["county"], doc["device"])
    return Event(
        county=doc["county"],
        device=doc["device"],
        seq=doc["seq"],
        event_id=doc["id"],
        kind=topic.kind,
        schema=doc["schema"],
        version=doc["version"],
        time=doc["time"],
        data=doc["data"],
        body=text,
    )


#: Records a device owns by the number it gave them: another kiosk may cite one (a 样式二
#: source names it in ``sources``) but never issue, print, reprint or void it, nor
#: report a test under it. Without this, any kiosk account could void a neighbour's
#: genuine certificates on the scan page, or take its next numbers first.
OWNED_FIELDS = {
    "certificate.issued": "number",
    "certificate.printed": "number",
    "certificate.reprinted": "number",
    "certificate.voided": "number",
    "rapidtest.result": "test_id",
}


def _check_owned(schema: str, data: dict, county: str, device: str) -> None:
    field = OWNED_FIELDS.get(schema)
    if field is None:
        return
    prefix = f"{county}-{device}-" if field == "number" else f"{device}-T"
    if not str(data[field]).startswith(prefix):
        raise Rejected(
            f"{field} {data[field]!r} is not {county}/{device}'s (it must start {prefix!r})"
        )


def parse_state(schemas: SchemaBook, topic: Topic, payload: bytes) -> DeviceState:
    doc, _text = _decode(payload)
    _first_error(schemas.state, doc, "state")
    return DeviceState(
        county=topic.county,
        device=topic.device,
        status=doc["status"],
        software_version=doc["software_version"],
        config_version=doc["config_version"],
        backlog=doc["backlog"],
        time=doc["time"],
    )
