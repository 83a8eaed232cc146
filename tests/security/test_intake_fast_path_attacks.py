"""Red-team of the intake fast paths (9dcd261): the depth scan runs only when a payload
has more than MAX_DEPTH opening brackets, the character walk only when it holds a
backslash-u escape or a raw DEL. Each forbidden character is sent in every raw form that
skips both triggers; each must still be refused, by the fast path's reasoning (json
refuses raw controls, the UTF-8 decoder raw surrogates) or by the walk."""

from __future__ import annotations

import json
import re

import pytest

from station.intake import MAX_DEPTH, Rejected, parse_event
from wire.events import schema_book
from wire.topics import PREFIX, parse_topic

from .intake_rig import T, envelope

TOPIC = parse_topic(T + "certificate", PREFIX)


def _raw(**data: object) -> bytes:
    """The envelope as UTF-8 with nothing escaped (ensure_ascii=False): raw characters."""
    text = json.dumps(envelope("certificate.voided", 9, **data), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def _raw_control(char: str) -> bytes:
    """json.dumps escapes controls even with ensure_ascii=False: put the raw byte back."""
    return _raw(reason=f"a{char}b").replace(f"\\u{ord(char):04x}".encode(), char.encode())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_raw(reason="a\x7fb"), "U+007F"),  # raw DEL: the walk's own trigger
        (_raw_control("\x00"), "malformed JSON"),  # raw NUL: json refuses it
        (_raw_control("\x1b"), "malformed JSON"),  # raw ESC
        (_raw(reason="a\ud800b"), "not UTF-8"),  # a raw lone surrogate (ED A0 80)
        (_raw(reason="a\x00b"), "U+0000"),  # escaped NUL (\u0000): the walk runs
    ],
    ids=["raw_del", "raw_nul", "raw_esc", "raw_surrogate", "escaped_nul"],
)
def test_a_forbidden_character_in_any_raw_form_is_refused(payload: bytes, reason: str) -> None:
    assert b"\\u" not in payload or reason == "U+0000"  # only the escape is escaped
    with pytest.raises(Rejected, match=re.escape(reason)):
        parse_event(schema_book(), TOPIC, payload)


def test_brackets_inside_strings_do_not_make_a_shallow_event_deep() -> None:
    # More opening brackets than MAX_DEPTH, all inside a string: the scan runs and
    # finds the document shallow; the schema, not the depth check, answers.
    payload = _raw(reason="[{" * MAX_DEPTH)
    event = parse_event(schema_book(), TOPIC, payload)
    assert event.data["reason"] == "[{" * MAX_DEPTH


def test_one_level_past_max_depth_is_refused_before_parsing() -> None:
    inner = "[" * MAX_DEPTH + "]" * MAX_DEPTH  # inside the envelope: MAX_DEPTH + 1 levels
    payload = b'{"id":"K001:9","data":' + inner.encode() + b"}"
    with pytest.raises(Rejected, match="nested deeper"):
        parse_event(schema_book(), TOPIC, payload)


def test_an_integer_just_past_max_int_takes_the_exact_path_and_is_refused() -> None:
    # 2**53 has 16 digits: the fast decoder (no integer hook) never sees it.
    payload = json.dumps(envelope("certificate.voided", 2**53)).encode()
    with pytest.raises(Rejected, match="integer out of range"):
        parse_event(schema_book(), TOPIC, payload)


def test_fifteen_digit_integers_and_long_digit_strings_read_the_same_on_both_paths() -> None:
    biggest_fast = 10**15 - 1  # 15 digits: the fast decoder's largest
    payload = json.dumps(envelope("certificate.voided", biggest_fast)).encode()
    event = parse_event(schema_book(), TOPIC, payload)
    assert event.seq == biggest_fast and event.event_id == f"K001:{biggest_fast}"
    # A run of 16 digits inside a string sends the message down the exact path, which
    # reads it as the fast path would have.
    event = parse_event(schema_book(), TOPIC, _raw(reason="电话 1234567890123456"))
    assert event.data["reason"] == "电话 1234567890123456" and event.seq == 9
