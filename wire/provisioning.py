"""The provisioning wire contract shared by the kiosk agent and the county station.

Pure: message bodies and enrollment codes (the topics are in ``wire.topics``). It
imports only ``wire.documents`` and ``wire.signing``, so ``station/`` may use it without
pulling in drivers (the layer contract forbids station -> drivers). Schemas:
wire/schemas/provisioning/command.json, reply.json, config.bundle.json, enroll.request.json,
enroll.response.json.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from wire.documents import sign_document
from wire.signing import SigningKey

COMMAND_TYPE = "agriqs.command"
REPLY_TYPE = "agriqs.reply"
CONFIG_TYPE = "agriqs.config"
ENROLL_REQUEST_TYPE = "agriqs.enroll.request"
ENROLL_RESPONSE_TYPE = "agriqs.enroll.response"

#: Commands the kiosk agent serves (docs/provisioning.md has what each does).
COMMAND_NAMES = (
    "diagnostics",
    "test_print",
    "reader_selftest",
    "reader_calibrate",
    "logs",
    "rotate_keys",
    "firmware_update",
    "software_update",
    "diagnostics_bundle",
    "lift_hold",
    "roster",
    "restart",
)
#: What each command's args may hold: name -> (type, required). The station refuses
#: anything else before it signs; the kiosk checks again (provisioning/commands.py).
#: firmware_update's args are made by ``station cmd --file``, software_update's by
#: ``station update push``; never typed.
COMMAND_ARGS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "diagnostics": {"hardware": (bool, False)},
    "diagnostics_bundle": {"bundle": (str, True), "offset": (int, True)},
    "test_print": {},
    "reader_selftest": {},
    "reader_calibrate": {"kind": (str, False), "channels": (list, False)},
    "logs": {"lines": (int, False)},
    "rotate_keys": {},
    "lift_hold": {"hold_id": (int, True), "by": (str, False)},
    "roster": {"version": (int, True), "producers": (list, True)},
    "restart": {"what": (str, False)},
}
#: Choices for text args.
COMMAND_ARG_CHOICES = {
    ("reader_calibrate", "kind"): ("blank", "reference"),
    ("restart", "what"): ("ui", "agent"),
}
#: The kiosk's agent waits this long for its UI process to run a hardware request
#: (provisioning/hardware.py); the station waits for that deadline plus the network's.
HARDWARE_DEADLINE_S = 20.0
HARDWARE_COMMANDS = ("diagnostics", "test_print", "reader_selftest", "reader_calibrate", "restart")
#: Round trip through the broker and the agent's own work, beyond the hardware deadline.
REPLY_MARGIN_S = 10.0


def reply_deadline_s(name: str) -> float:
    """How long ``station cmd`` waits for the reply to ``name`` before saying timeout."""
    return HARDWARE_DEADLINE_S + REPLY_MARGIN_S if name in HARDWARE_COMMANDS else REPLY_MARGIN_S


def check_command_args(name: str, args: dict[str, Any]) -> None:
    """ValueError naming the command and the argument the kiosk would refuse."""
    if name not in COMMAND_NAMES:
        raise ValueError(f"unknown command {name!r}; one of {', '.join(COMMAND_NAMES)}")
    if name in ("firmware_update", "software_update"):
        return
    allowed = COMMAND_ARGS[name]
    for key, value in args.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise ValueError(f"{name}: unknown argument {key!r} (arguments: {known})")
        kind, _ = allowed[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ValueError(f"{name}: {key}={value!r} is not {names}")
        choices = COMMAND_ARG_CHOICES.get((name, key))
        if choices and value not in choices:
            raise ValueError(f"{name}: {key} must be one of {', '.join(choices)}, not {value!r}")
    missing = [key for key, (_, required) in allowed.items() if required and key not in args]
    if missing:
        raise ValueError(f"{name}: needs {', '.join(f'{k}=…' for k in missing)}")


#: A command may live at most this long: the kiosk keeps every nonce until its command
#: expires, so this bounds the replay table, and a captured command dies within a day.
COMMAND_MAX_LIFETIME_S = 24 * 3600
#: Default lifetime chosen by ``station cmd``: long enough for a kiosk on a flaky link
#: to pick the command up from its persistent session, short enough to be harmless.
COMMAND_DEFAULT_LIFETIME_S = 600
#: Kiosk and county clocks may disagree this much (NTP-less kiosks after a power cut).
CLOCK_SKEW_S = 300

#: Enrollment code: 12 symbols of Crockford-like base32 (60 bits), shown as XXXX-XXXX-XXXX.
#: Short enough to type on a touchscreen; guessing one inside its validity window
#: (an hour by default, a few tries per second through the broker) is hopeless.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_GROUPS = 3
CODE_GROUP_LEN = 4
CODE_PATTERN = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$")
#: MQTT client ids used for enrollment: random, and part of the enrollment topics
#: (the broker ACL binds them with %c), so only the requester can read its response.
ENROLL_CLIENT_PREFIX = "enroll-"


class SettingsError(ValueError):
    """A config bundle's settings the kiosk would refuse; the message names the key."""


@cache
def _settings_schema() -> tuple[dict[str, Any], Any]:
    raw = resources.files("wire") / "schemas" / "provisioning" / "kiosk.settings.json"
    schema = json.loads(raw.read_text("utf-8"))
    return schema, fastjsonschema.compile(schema)


def check_settings(settings: Any) -> None:
    """Refuse what the kiosk's schema refuses (kiosk.settings.json, generated from
    kiosk/config.py): unknown keys, protected keys, wrong types, by dotted name."""
    schema, validate = _settings_schema()
    if not isinstance(settings, dict) or not settings:
        raise SettingsError("settings must be a non-empty table of sections")
    protected = []
    for key in schema["x-protected"]:
        node: Any = settings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            protected.append(key)
    if protected:
        raise SettingsError(f"{', '.join(protected)}: protected (set by enrollment only)")
    _unknown_keys(settings, schema, schema, "")
    try:
        validate(settings)
    except fastjsonschema.JsonSchemaValueException as error:
        name = error.name or "data"
        where = name.removeprefix("data").lstrip(".") or "(settings)"
        raise SettingsError(f"{where}: {error.message.removeprefix(name).strip()}") from None


def _unknown_keys(node: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    properties = schema.get("properties")
    if not isinstance(node, dict) or properties is None:
        return
    for key, value in node.items():
        dotted = f"{path}{key}"
        if key not in properties:
            known = ", ".join(sorted(properties))
            raise SettingsError(f"{dotted}: unknown key (known here: {known})")
        _unknown_keys(value, properties[key], root, dotted + ".")


def new_enroll_client_id(username: str | None = None) -> str:
    """A fresh id for one enrollment connection. Under the county's enrollment account
    ``enroll-{county}`` it is ``enroll-{county}-{random}``: the broker accepts only client
    ids that start with the account's name (docs/deploy/mosquitto/README.md)."""
    if username and re.fullmatch(r"enroll-[0-9]{6}", username):
        return f"{username}-{secrets.token_hex(12)}"
    return ENROLL_CLIENT_PREFIX + secrets.token_hex(12)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 time with a UTC offset; ValueError names the field."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: time without a UTC offset: {value!r}")
    return parsed


# ---- commands ------------------------------------------------------------------------


def make_command(
    key: SigningKey,
    county: str,
    device: str,
    name: str,
    args: dict[str, Any],
    now: datetime,
    lifetime_s: int = COMMAND_DEFAULT_LIFETIME_S,
    command_id: str | None = None,
) -> tuple[str, dict[str, str]]:
    """(command id, signed document) for one request to one kiosk."""
    if name not in COMMAND_NAMES:
        raise ValueError(f"unknown command {name!r}; one of {', '.join(COMMAND_NAMES)}")
    if not 0 < lifetime_s <= COMMAND_MAX_LIFETIME_S:
        raise ValueError(f"lifetime must be 1..{COMMAND_MAX_LIFETIME_S} s")
    command_id = command_id or uuid.uuid4().hex
    body = {
        "type": COMMAND_TYPE,
        "id": command_id,
        "county": county,
        "device": device,
        "name": name,
        "args": args,
        "issued_at": iso(now),
        "expires_at": iso(now + timedelta(seconds=lifetime_s)),
        "nonce": secrets.token_hex(16),
    }
    return command_id, sign_document(body, key)


def make_reply(
    key: SigningKey | None,
    *,
    command_id: str | None,
    county: str,
    device: str,
    name: str | None,
    status: str,
    reason: str = "",
    result: dict[str, Any] | None = None,
    now: datetime,
) -> dict[str, Any]:
    """A reply; signed by the kiosk's certificate-signing key when it has one."""
    body = {
        "type": REPLY_TYPE,
        "command_id": command_id,
        "county": county,
        "device": device,
        "name": name,
        "status": status,
        "reason": reason,
        "result": result or {},
        "time": iso(now),
    }
    if key is None:
        return {"body": json.dumps(body, ensure_ascii=False, sort_keys=True)}
    return sign_document(body, key)


def reply_body(document: dict[str, Any]) -> dict[str, Any]:
    """The reply's body without checking its signature (the station checks separately)."""
    body = json.loads(document["body"])
    if not isinstance(body, dict) or body.get("type") != REPLY_TYPE:
        raise ValueError("not a reply")
    return body


# ---- config bundles -------------------------------------------------------------------


def make_config_bundle(
    key: SigningKey,
    county: str,
    target: dict[str, str],
    version: int,
    settings: dict[str, Any],
    now: datetime,
) -> dict[str, str]:
    """A signed bundle for a device ({"device": id}), township or the county ({})."""
    body = {
        "type": CONFIG_TYPE,
        "county": county,
        "target": target,
        "version": version,
        "issued_at": iso(now),
        "settings": settings,
    }
    return sign_document(body, key)


# ---- enrollment -------------------------------------------------------------------------


def new_enroll_code() -> str:
    groups = [
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LEN))
        for _ in range(CODE_GROUPS)
    ]
    return "-".join(groups)


def normalize_code(text: str) -> str:
    """What a technician typed (spaces, lower case, no dashes) in canonical form."""
    raw = re.sub(r"[\s\-]", "", text.upper())
    if len(raw) != CODE_GROUPS * CODE_GROUP_LEN:
        raise ValueError(f"an enrollment code has {CODE_GROUPS * CODE_GROUP_LEN} characters")
    return "-".join(raw[i : i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))


def code_hash(code: str) -> str:
    """The station stores only this; a leaked database does not leak live codes."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def code_qr_text(county: str, code: str) -> str:
    """What the QR shown by ``station devices enroll-code`` carries (uppercase: QR alnum)."""
    return f"AGRIQS:ENROLL:{county}:{normalize_code(code)}"


def parse_scanned_code(text: str) -> str:
    """A typed code or a scanned QR text, as the canonical code."""
    text = text.strip()
    if text.upper().startswith("AGRIQS:ENROLL:"):
        text = text.rsplit(":", 1)[1]
    return normalize_code(text)


def mac_key(code: str) -> str:
    """The HMAC key derived from a code (hex); the station keeps it with a used request."""
    return hashlib.sha256(b"agriqs-enroll-v1\0" + normalize_code(code).encode()).hexdigest()


def mac_with_key(key_hex: str, body_text: str) -> str:
    digest = hmac.new(bytes.fromhex(key_hex), body_text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def response_mac(code: str, body_text: str) -> str:
    """HMAC-SHA256 keyed by the code: only someone who knew the code (the county) can
    produce it, so the kiosk can trust the anchors it receives before it has any."""
    return mac_with_key(mac_key(code), body_text)


def check_response_mac(code: str, body_text: str, mac: str) -> bool:
    return hmac.compare_digest(response_mac(code, body_text), mac)
