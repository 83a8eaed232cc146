"""The event schema contract: what the outbox writes validates; bad data does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from support.uplink import SAMPLES, SCHEMA_CYCLE, SCHEMAS, open_kiosk, sample

from wire import events


def _validator(name: str) -> Draft202012Validator:
    raw = json.loads((SCHEMAS / f"{name}.json").read_text("utf-8"))
    Draft202012Validator.check_schema(raw)
    return Draft202012Validator(raw)


@pytest.mark.parametrize("schema", SCHEMA_CYCLE)
def test_outbox_envelopes_validate(tmp_path: Path, schema: str) -> None:
    store, outbox = open_kiosk(tmp_path / "k.db")
    kind, data = sample(schema, 7)
    event = events.build(schema, data)
    assert event.kind == kind  # the topic kind comes from the schema's x-kind
    with store.transaction():
        outbox.enqueue(event)
    row = outbox.page()[0]
    assert row.kind == kind
    body = json.loads(row.body)
    _validator("envelope").validate(body)
    _validator(schema).validate(body["data"])
    store.close()


def test_schemas_refuse_bad_data() -> None:
    bad = copy.deepcopy(SAMPLES["certificate.issued"][1])
    bad["quantity"] = 25.5  # a float, not decimal text
    assert not _validator("certificate.issued").is_valid(bad)
    assert not _validator("alarm.raised").is_valid({**SAMPLES["alarm.raised"][1], "code": "x"})
    extra = {**SAMPLES["hold.lifted"][1], "surprise": 1}
    assert not _validator("hold.lifted").is_valid(extra)
    state = {"status": "online", "software_version": "1", "config_version": "1", "backlog": 0,
             "time": "2026-03-02T09:30:00"}  # fmt: skip
    assert not _validator("state").is_valid(state)  # no UTC offset
    assert _validator("state").is_valid({**state, "time": "2026-03-02T09:30:00+08:00"})
