"""Turning an MQTT message into a stored event, or a quarantine reason.

Every check a hostile or buggy kiosk could fail is here, in order: size, topic
shape, JSON, envelope schema, data schema, the topic kind, and that the topic's
county/device match the envelope (a kiosk may not speak for another; the broker
ACL binds a kiosk's login to its own topics, this binds the content to the topic).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from station.db import DeviceState, Event
from station.fastcheck import Check, Unsupported, compile_schema

log = logging.getLogger(__name__)

#: Largest accepted message: a certificate event is ~1 KiB; 64 KiB leaves room for
#: alarm details while keeping a flood of junk from reaching the database.
MAX_PAYLOAD_BYTES = 64 * 1024
#: The project's schemas; an installed county server passes ``--schemas``.
DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"


class Rejected(ValueError):
    """The message cannot be stored as an event; ``str()`` is the quarantine reason."""


@dataclass(frozen=True)
class Validator:
    """jsonschema for the reasons; a compiled check for the common, valid case."""

    full: Draft202012Validator
    fast: Check | None

    @classmethod
    def load(cls, raw: Any) -> Validator:
        Draft202012Validator.check_schema(raw)
        try:
            fast: Check | None = compile_schema(raw)
        except Unsupported as exc:
            log.info("schema %s checked by jsonschema only: %s", raw.get("title"), exc)
            fast = None
        return cls(Draft202012Validator(raw), fast)


@dataclass(frozen=True)
class _DataSchema:
    kind: str
    validator: Validator


class Schemas:
    """The envelope, state and per-event data schemas from ``docs/schemas``."""

    def __init__(self, directory: Path = DEFAULT_SCHEMAS_DIR) -> None:
        directory = Path(directory)
        if not (directory / "envelope.json").is_file():
            raise FileNotFoundError(f"no envelope.json in schema directory {directory}")
        self.envelope = self._load(directory / "envelope.json")
        self.state = self._load(directory / "state.json")
        self.data: dict[tuple[str, int], _DataSchema] = {}
        for path in sorted(directory.glob("*.json")):
            if path.stem in ("envelope", "state"):
                continue
            raw = json.loads(path.read_text("utf-8"))
            key = (raw["title"], int(raw["x-version"]))
            self.data[key] = _DataSchema(raw["x-kind"], Validator.load(raw))

    @staticmethod
    def _load(path: Path) -> Validator:
        return Validator.load(json.loads(path.read_text("utf-8")))


def _first_error(validator: Validator, instance: Any, what: str) -> None:
    if validator.fast is not None and validator.fast(instance):
        return
    error = best_match(validator.full.iter_errors(instance))
    if error is None:
        if validator.fast is not None:
            log.error("fast check disagrees with jsonschema on %s; jsonschema wins", what)
        return
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise Rejected(f"{what} invalid at {where}: {error.message[:200]}")


@dataclass(frozen=True)
class Topic:
    county: str
    device: str
    kind: str | None  # None for the state topic


def parse_topic(topic: str, prefix: str) -> Topic:
    if not topic.startswith(prefix + "/"):
        raise Rejected(f"topic {topic!r} is not under {prefix!r}")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) == 4 and parts[2] == "evt":
        return Topic(parts[0], parts[1], parts[3])
    if len(parts) == 3 and parts[2] == "state":
        return Topic(parts[0], parts[1], None)
    raise Rejected(f"topic {topic!r} is neither .../evt/<kind> nor .../state")


def _decode(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"oversized: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejected(f"malformed: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"malformed JSON: {exc.msg} at line {exc.lineno} col {exc.colno}") from None


def parse_event(schemas: Schemas, topic: Topic, payload: bytes) -> Event:
    """A validated event from an ``evt/<kind>`` message, or Rejected with the reason."""
    doc = _decode(payload)
    _first_error(schemas.envelope, doc, "envelope")
    key = (doc["schema"], doc["version"])
    schema = schemas.data.get(key)
    if schema is None:
        raise Rejected(f"unknown schema {doc['schema']} version {doc['version']}")
    _first_error(schema.validator, doc["data"], f"data of {doc['schema']}")
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


def parse_state(schemas: Schemas, topic: Topic, payload: bytes) -> DeviceState:
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
