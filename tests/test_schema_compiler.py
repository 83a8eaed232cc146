"""fastjsonschema (the compiled checks the kiosk and the collector run) agrees with
jsonschema's draft 2020-12 validator (what the schemas declare) on every event schema."""

from __future__ import annotations

import copy
from functools import cache

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from support.uplink import SAMPLES, fixed_clock

from wire.events import schema_documents

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
    st.sampled_from([0.0, 1.0, "", "x", "2026-03-02T09:30:00+08:00", "1.5", "K001:1", "style1",
                     "negative", "backlog", "330100", "K001"]),
)  # fmt: skip
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


DOCUMENTS = schema_documents()


@cache
def _pair(name: str):  # type: ignore[no-untyped-def]
    raw = DOCUMENTS[name]
    Draft202012Validator.check_schema(raw)
    compiled = fastjsonschema.compile(raw)

    def fast(doc: object) -> bool:
        try:
            compiled(copy.deepcopy(doc))  # fastjsonschema fills defaults in place
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return fast, Draft202012Validator(raw)


def _valid_instance(name: str) -> dict:
    if name == "envelope":
        return {"id": "K001:1", "schema": "alarm.cleared", "version": 1, "envelope": 1,
                "county": "330100", "device": "K001", "seq": 1,
                "time": fixed_clock().isoformat(), "data": {}}  # fmt: skip
    if name == "state":
        return {"status": "online", "software_version": "1", "config_version": "1",
                "backlog": 0, "time": fixed_clock().isoformat()}  # fmt: skip
    return copy.deepcopy(SAMPLES[name][1])


NAMES = sorted(DOCUMENTS)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_compiled_check_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    fast, full = _pair(name)
    doc = _valid_instance(name)
    assert fast(doc) and full.is_valid(doc)
    keys = sorted(doc)
    action = data.draw(st.sampled_from(["replace", "delete", "add", "whole"]))
    if action == "replace":
        doc[data.draw(st.sampled_from(keys))] = data.draw(JSON)
    elif action == "delete":
        del doc[data.draw(st.sampled_from(keys))]
    elif action == "add":
        doc[data.draw(st.text(max_size=4))] = data.draw(JSON)
    else:
        doc = data.draw(JSON)
    assert fast(doc) == full.is_valid(doc), doc
