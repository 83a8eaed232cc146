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
from collections.abc import Callable
from typing import Any

from station.db import DeviceState, Event
from wire.events import EventContractError, SchemaBook, check
from wire.topics import Topic

log = logging.getLogger(__name__)

#: Largest accepted message: a certificate event is ~1 KiB; 64 KiB leaves room for
#: alarm details while keeping a flood of junk from reaching the database.
MAX_PAYLOAD_BYTES = 64 * 1024


class Rejected(ValueError):
    """The message cannot be stored as an event; ``str()`` is the quarantine reason."""


def _first_error(validate: Callable[[Any], Any], instance: Any, what: str) -> None:
    try:
        check(validate, instance, what)
    except EventContractError as error:
        raise Rejected(str(error)[:300]) from None


def _decode(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"oversized: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejected(f"malformed: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"malformed JSON: {exc.msg} at line {exc.lineno} col {exc.colno}") from None


def parse_event(schemas: SchemaBook, topic: Topic, payload: bytes) -> Event:
    """A validated event from an ``evt/<kind>`` message, or Rejected with the reason."""
    doc = _decode(payload)
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
        body=payload.decode("utf-8"),
    )


def parse_state(schemas: SchemaBook, topic: Topic, payload: bytes) -> DeviceState:
    doc = _decode(payload)
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
