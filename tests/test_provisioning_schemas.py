"""What provisioning puts on the wire matches wire/schemas, and the schemas refuse bad data."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from support.provisioning import COUNTY_KEY, now

from wire.provisioning import make_command, make_config_bundle, make_reply

SCHEMAS = Path(__file__).resolve().parents[1] / "wire" / "schemas" / "provisioning"


def validator(name: str) -> Draft202012Validator:
    raw = json.loads((SCHEMAS / f"{name}.json").read_text("utf-8"))
    Draft202012Validator.check_schema(raw)
    return Draft202012Validator(raw)


def test_command_reply_and_bundle_validate() -> None:
    _, doc = make_command(COUNTY_KEY, "330100", "K001", "lift_hold", {"hold_id": 3}, now())
    validator("signed").validate(doc)
    body = json.loads(doc["body"])
    validator("command").validate(body)
    assert not validator("command").is_valid({**body, "name": "format_disk"})
    reply = make_reply(
        COUNTY_KEY,
        command_id="x",
        county="330100",
        device="K001",
        name="lift_hold",
        status="ok",
        result={},
        now=now(),
    )
    validator("reply").validate(json.loads(reply["body"]))
    bundle = json.loads(
        make_config_bundle(
            COUNTY_KEY, "330100", {"township": "示范镇"}, 4, {"ui": {"idle_timeout_s": 60}}, now()
        )["body"]
    )
    validator("config.bundle").validate(bundle)
    assert not validator("config.bundle").is_valid({**bundle, "settings": {"device": {}}})
    assert not validator("config.bundle").is_valid({**bundle, "version": 0})
