"""Every event a kiosk sends the county, built by one function per event type.

The JSON Schemas in ``wire/schemas/`` are the contract; the kiosk checks each event
against its schema *before* it enters the outbox, with the same compiled validators the
county collector uses, so an event the county would quarantine is refused on the kiosk
while the farmer is still there, not discovered after it was reported delivered.
Numbers that are legal facts (quantities) travel as canonical decimal text: one
spelling per value, never an exponent or a float.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

#: The envelope format every event travels in (``envelope.json``).
ENVELOPE_VERSION = 1


class EventContractError(ValueError):
    """An event does not match its schema; the message names the field."""


@dataclass(frozen=True)
class Event:
    """An event's body: ``schema`` names its data schema, ``kind`` its topic kind."""

    schema: str
    version: int
    kind: str
    data: Mapping[str, Any]


Validator = Callable[[Any], Any]


@dataclass(frozen=True)
class DataSchema:
    kind: str
    validate: Validator


class SchemaBook:
    """The packaged schemas, compiled once: the envelope, the state message and each
    event's data schema keyed by (title, x-version)."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self.envelope = fastjsonschema.compile(dict(documents["envelope"]))
        self.state = fastjsonschema.compile(dict(documents["state"]))
        self.data: dict[tuple[str, int], DataSchema] = {}
        for name, raw in documents.items():
            if name in ("envelope", "state"):
                continue
            key = (str(raw["title"]), int(raw["x-version"]))
            self.data[key] = DataSchema(str(raw["x-kind"]), fastjsonschema.compile(dict(raw)))

    def data_schema(self, schema: str, version: int) -> DataSchema:
        try:
            return self.data[(schema, version)]
        except KeyError:
            raise EventContractError(f"unknown schema {schema} version {version}") from None


def schema_documents() -> dict[str, dict[str, Any]]:
    """The raw event schemas shipped in ``wire/schemas`` (provisioning's are elsewhere)."""
    folder = resources.files("wire") / "schemas"
    out: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            out[entry.name.removesuffix(".json")] = json.loads(entry.read_text("utf-8"))
    return out


@cache
def schema_book() -> SchemaBook:
    """Compiled once per process: the schemas are package data and never change at run time."""
    return SchemaBook(schema_documents())


def check(validate: Validator, instance: Any, what: str) -> None:
    """Raise EventContractError naming the first failing field of ``instance``."""
    try:
        validate(instance)
    except fastjsonschema.JsonSchemaValueException as error:
        where = (error.name or "").removeprefix("data").lstrip(".") or "(root)"
        raise EventContractError(f"{what} invalid at {where}: {error.message}") from None


def canonical_decimal(value: Decimal) -> str:
    """The one text form of a decimal quantity: no exponent, no trailing zeros ("10",
    "12.5"), so "1E+1" and "10.0" both travel as "10"."""
    if not value.is_finite():
        raise EventContractError(f"not a finite quantity: {value}")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def build(schema: str, data: dict[str, Any], version: int = 1) -> Event:
    """An event of any schema, checked; services use the typed builders below, tools and
    tests that replay recorded data use this."""
    target = schema_book().data_schema(schema, version)
    check(target.validate, data, f"data of {schema}")
    return Event(schema, version, target.kind, data)


def envelope(event: Event, *, county: str, device: str, seq: int, time: datetime) -> dict[str, Any]:
    """The envelope the uplink publishes; checked like the county checks it."""
    doc = {
        "id": f"{device}:{seq}",
        "schema": event.schema,
        "version": event.version,
        "envelope": ENVELOPE_VERSION,
        "county": county,
        "device": device,
        "seq": seq,
        "time": time.isoformat(),
        "data": dict(event.data),
    }
    check(schema_book().envelope, doc, "envelope")
    return doc


# ---- certificates ------------------------------------------------------------------


def certificate_issued(
    *,
    number: str,
    seq: int,
    issued_at: datetime,
    template_id: str,
    style: str,
    product_code: str,
    product_name: str,
    quantity: Decimal,
    unit: str,
    origin: str,
    issuer_name: str,
    issuer_phone: str,
    producer_key: str,
    basis: str,
    inputs_used: Sequence[str],
    test_ref: str | None,
    source_certificate: str | None,
    township: str,
    service_point: str,
    sample_id: str | None = None,
    lab_name: str | None = None,
    sources: Sequence[str] = (),
    quarantine_cert: str | None = None,
    ear_tags: Sequence[str] = (),
) -> Event:
    # The batch sample and the lab are sent only when set: an event without them is the
    # same bytes an older collector accepts (wire/schemas/README.md).
    extra: dict[str, Any] = {
        k: v for k, v in (("sample_id", sample_id), ("lab_name", lab_name)) if v
    }
    if sources:
        extra["sources"] = list(sources)
    if quarantine_cert:
        extra["quarantine_cert"] = quarantine_cert
    if ear_tags:
        extra["ear_tags"] = list(ear_tags)
    return build(
        "certificate.issued",
        {
            **extra,
            "number": number,
            "seq": seq,
            "issued_at": issued_at.isoformat(),
            "template_id": template_id,
            "style": style,
            "product_code": product_code,
            "product_name": product_name,
            "quantity": canonical_decimal(quantity),
            "unit": unit,
            "origin": origin,
            "issuer_name": issuer_name,
            "issuer_phone": issuer_phone,
            "producer_key": producer_key,
            "basis": basis,
            "inputs_used": list(inputs_used),
            "test_ref": test_ref,
            "source_certificate": source_certificate,
            "township": township,
            "service_point": service_point,
        },
    )


def certificate_printed(*, number: str, copies: int) -> Event:
    return build("certificate.printed", {"number": number, "copies": copies})


def certificate_reprinted(*, number: str, copies: int, reprint_no: int) -> Event:
    return build(
        "certificate.reprinted", {"number": number, "copies": copies, "reprint_no": reprint_no}
    )


def certificate_voided(*, number: str, reason: str) -> Event:
    return build("certificate.voided", {"number": number, "reason": reason})


# ---- rapid tests -------------------------------------------------------------------


def rapidtest_result(
    *,
    test_id: str,
    sample_id: str,
    producer_key: str,
    product_code: str,
    method: str,
    analyte: str,
    channel: int | str,
    verdict: str,
    value: float | None,
    unit: str,
    retest_of: str | None,
    started_at: str,
    finished_at: str,
    raw_ref: str | None,
    batch_id: str | None = None,
    kit_lot: str | None = None,
) -> Event:
    """One result; ``batch_id`` lets the county count batches and samples, not runs."""
    extra = {k: v for k, v in (("batch_id", batch_id), ("kit_lot", kit_lot)) if v}
    return build(
        "rapidtest.result",
        {
            "test_id": test_id,
            "sample_id": sample_id,
            "producer_key": producer_key,
            "product_code": product_code,
            "method": method,
            "analyte": analyte,
            "channel": channel,
            "verdict": verdict,
            "value": value,
            "unit": unit,
            "retest_of": retest_of,
            "started_at": started_at,
            "finished_at": finished_at,
            "raw_ref": raw_ref,
            **extra,
        },
    )


# ---- alarms and holds --------------------------------------------------------------


def alarm_raised(*, code: str, severity: str, message: str, detail: Mapping[str, Any]) -> Event:
    return build(
        "alarm.raised",
        {"code": code, "severity": severity, "message": message, "detail": dict(detail)},
    )


def alarm_cleared(*, code: str) -> Event:
    return build("alarm.cleared", {"code": code})


def hold_placed(
    *, hold_id: int, producer_key: str, product_code: str, reason: str, source: str | None
) -> Event:
    return build(
        "hold.placed",
        {
            "hold_id": hold_id,
            "producer_key": producer_key,
            "product_code": product_code,
            "reason": reason,
            "source": source,
        },
    )


def hold_lifted(*, hold_id: int, lifted_by: str) -> Event:
    return build("hold.lifted", {"hold_id": hold_id, "lifted_by": lifted_by})
