"""The pure wedge and line decoders, fed exact event and byte sequences."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.scanner import keymap
from drivers.scanner.burst import BurstRules
from drivers.scanner.keymap import EV_KEY, EV_MSC, EV_SYN, KEY_PRESS, KEY_RELEASE, KEY_REPEAT
from drivers.scanner.lines import LineDecoder
from drivers.scanner.wedge import KeyEvent, WedgeDecoder, keystrokes

LSHIFT, RSHIFT, ENTER, KPENTER = 42, 54, 28, 96
KEY_A, KEY_B, KEY_1, KEY_2, KEY_SLASH, KEY_F1, KEY_LEFTCTRL = 30, 48, 2, 3, 53, 59, 29


def key(t: float, code: int, value: int = KEY_PRESS) -> KeyEvent:
    return KeyEvent(t, EV_KEY, code, value)


def tap(t: float, code: int) -> list[KeyEvent]:
    """Press, SYN, release, SYN, as the kernel reports one keystroke."""
    return [
        key(t, code),
        KeyEvent(t, EV_SYN, 0, 0),
        key(t + 0.001, code, KEY_RELEASE),
        KeyEvent(t + 0.001, EV_SYN, 0, 0),
    ]


def test_key_codes_match_the_kernel_as_evdev_knows_them() -> None:
    ecodes = pytest.importorskip("evdev").ecodes
    assert (ecodes.EV_KEY, ecodes.EV_SYN, ecodes.EV_MSC) == (EV_KEY, EV_SYN, EV_MSC)
    assert (ecodes.KEY_ENTER, ecodes.KEY_KPENTER) == (keymap.KEY_ENTER, keymap.KEY_KPENTER)
    assert (ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT) == (LSHIFT, RSHIFT)
    names = {"a": "KEY_A", "z": "KEY_Z", "1": "KEY_1", "0": "KEY_0", "-": "KEY_MINUS"}
    names |= {"[": "KEY_LEFTBRACE", ";": "KEY_SEMICOLON", "'": "KEY_APOSTROPHE"}
    names |= {"`": "KEY_GRAVE", "\\": "KEY_BACKSLASH", "/": "KEY_SLASH", " ": "KEY_SPACE"}
    for char, name in names.items():
        assert keymap.KEYSTROKE_FOR[char] == (getattr(ecodes, name), False), char
    assert keymap.KEYPAD_KEYS[ecodes.KEY_KP7] == "7"
    assert keymap.KEYPAD_KEYS[ecodes.KEY_KPDOT] == "."


def test_plain_code_with_enter() -> None:
    events = [*tap(0.000, KEY_A), *tap(0.005, KEY_B), *tap(0.010, KEY_1), *tap(0.015, ENTER)]
    assert WedgeDecoder().feed_all(events) == ["ab1"]


def test_shift_gives_upper_case_and_shifted_symbols_from_either_shift_key() -> None:
    events = [
        key(0.0, LSHIFT),
        *tap(0.001, KEY_A),  # A
        *tap(0.002, KEY_1),  # !
        key(0.003, LSHIFT, KEY_RELEASE),
        *tap(0.004, KEY_A),  # a
        key(0.005, RSHIFT),
        *tap(0.006, KEY_SLASH),  # ?
        key(0.007, RSHIFT, KEY_REPEAT),  # a held Shift repeats: still held, not released
        *tap(0.008, KEY_2),  # @
        key(0.009, RSHIFT, KEY_RELEASE),
        *tap(0.010, KEY_SLASH),  # /
        *tap(0.011, KPENTER),
    ]
    assert WedgeDecoder().feed_all(events) == ["A!a?@/"]


def test_keypad_enter_and_main_enter_both_end_a_code() -> None:
    d = WedgeDecoder()
    codes = d.feed_all([*tap(0.0, KEY_1), *tap(0.01, KPENTER), *tap(0.5, KEY_2), *tap(0.51, ENTER)])
    assert codes == ["1", "2"]


def test_repeats_and_releases_type_nothing() -> None:
    events = [key(0.0, KEY_A), key(0.001, KEY_A, KEY_REPEAT), key(0.002, KEY_A, KEY_REPEAT)]
    events += [key(0.003, KEY_A, KEY_RELEASE), KeyEvent(0.003, EV_MSC, 4, 0x70004)]
    events += [key(0.004, ENTER, KEY_REPEAT), *tap(0.005, ENTER)]
    assert WedgeDecoder().feed_all(events) == ["a"]


def test_a_lone_enter_is_not_a_code() -> None:
    d = WedgeDecoder()
    assert d.feed_all(tap(0.0, ENTER)) == []
    assert d.dropped == 0


def test_unknown_key_spoils_the_burst_to_its_terminator(caplog: pytest.LogCaptureFixture) -> None:
    d = WedgeDecoder()
    events = [*tap(0.0, KEY_A), *tap(0.001, KEY_F1), *tap(0.002, KEY_B), *tap(0.003, ENTER)]
    events += [*tap(0.5, KEY_2), *tap(0.501, ENTER)]
    with caplog.at_level(logging.WARNING):
        assert d.feed_all(events) == ["2"]
    assert d.dropped == 1
    assert "types no character" in caplog.text


def test_ctrl_chord_is_garbage() -> None:
    d = WedgeDecoder()
    events = [key(0.0, KEY_LEFTCTRL), *tap(0.001, KEY_A), key(0.002, KEY_LEFTCTRL, KEY_RELEASE)]
    events += [*tap(0.003, KEY_B), *tap(0.004, ENTER)]
    assert d.feed_all(events) == []
    assert d.dropped == 1


def test_a_burst_without_terminator_is_dropped_when_the_next_one_starts_late() -> None:
    d = WedgeDecoder(BurstRules(interchar_timeout=0.2))
    events = [*tap(0.0, KEY_A), *tap(0.005, KEY_B)]  # Enter lost
    events += [*tap(1.0, KEY_1), *tap(1.005, KEY_2), *tap(1.01, ENTER)]
    assert d.feed_all(events) == ["12"]
    assert d.dropped == 1


def test_expire_drops_an_unterminated_burst_without_waiting_for_more_input() -> None:
    d = WedgeDecoder(BurstRules(interchar_timeout=0.2))
    d.feed_all(tap(10.0, KEY_A))
    assert not d.expire(10.1)
    assert d.expire(10.3)
    assert d.dropped == 1
    assert d.feed_all(tap(10.4, ENTER)) == []  # the late Enter ends nothing


def test_gap_just_under_the_timeout_keeps_the_burst() -> None:
    d = WedgeDecoder(BurstRules(interchar_timeout=0.2))
    assert d.feed_all([*tap(0.0, KEY_A), *tap(0.15, KEY_B), *tap(0.3, ENTER)]) == ["ab"]


def test_over_long_burst_is_swallowed_whole() -> None:
    d = WedgeDecoder(BurstRules(max_length=5))
    exactly = [e for i in range(5) for e in tap(i * 0.002, KEY_1)] + tap(0.011, ENTER)
    assert d.feed_all(exactly) == ["11111"]
    too_long = [e for i in range(7) for e in tap(1 + i * 0.002, KEY_1)] + tap(1.02, ENTER)
    assert d.feed_all(too_long) == []
    assert d.dropped == 1


def test_reset_forgets_a_held_shift() -> None:
    d = WedgeDecoder()
    d.feed(key(0.0, LSHIFT))
    d.reset("unplugged")
    assert d.feed_all([*tap(1.0, KEY_A), *tap(1.001, ENTER)]) == ["a"]


_TYPEABLE = st.text(alphabet=sorted(keymap.KEYSTROKE_FOR), min_size=1, max_size=60)


@given(_TYPEABLE)
def test_whatever_a_us_wedge_types_decodes_back(text: str) -> None:
    assert WedgeDecoder().feed_all(keystrokes(text, 100.0, 0.004)) == [text]


def test_keystrokes_refuses_what_a_us_keyboard_cannot_type() -> None:
    with pytest.raises(ValueError):
        list(keystrokes("合格证", 0.0))


# -- serial line decoder -------------------------------------------------------------


def test_lines_end_with_cr_lf_or_crlf() -> None:
    d = LineDecoder()
    assert d.feed(b"ABC\r", 0.0) == ["ABC"]
    assert d.feed(b"def\n", 1.0) == ["def"]
    assert d.feed(b"X-1/2\r\n", 2.0) == ["X-1/2"]
    assert d.feed(b"\r\n\n", 3.0) == []
    assert d.dropped == 0


def test_a_line_split_across_reads_joins() -> None:
    d = LineDecoder()
    assert d.feed(b"HTTPS://V", 0.0) == []
    assert d.feed(b"ERIFY/1\r\n", 0.01) == ["HTTPS://VERIFY/1"]


def test_control_byte_or_non_ascii_spoils_the_line() -> None:
    d = LineDecoder()
    assert d.feed(b"01\x1d234\r\n", 0.0) == []
    assert d.feed("é1\r".encode(), 1.0) == []
    assert d.feed(b"ok\r", 2.0) == ["ok"]
    assert d.dropped == 2


def test_serial_timeout_and_max_length() -> None:
    d = LineDecoder(BurstRules(interchar_timeout=0.2, max_length=4))
    assert d.feed(b"12", 0.0) == []
    assert d.feed(b"34\r", 0.5) == ["34"]  # "12" lost its terminator
    assert d.feed(b"12345\r", 1.0) == []
    assert d.dropped == 2
