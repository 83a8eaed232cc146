"""US-layout key codes (Linux ``input-event-codes.h``) to characters, and back.

A keyboard-wedge scanner sends key presses as if typed on a US keyboard; a shifted
character arrives as Shift held around the key. The numbers below are the kernel's
key codes (stable ABI), kept here so the pure decoder needs no ``evdev`` import.
"""

from __future__ import annotations

EV_SYN = 0x00
EV_KEY = 0x01
EV_MSC = 0x04

KEY_RELEASE = 0
KEY_PRESS = 1
KEY_REPEAT = 2

KEY_ENTER = 28
KEY_KPENTER = 96
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_LEFTCTRL = 29
KEY_RIGHTCTRL = 97
KEY_LEFTALT = 56
KEY_RIGHTALT = 100
KEY_LEFTMETA = 125
KEY_RIGHTMETA = 126
KEY_CAPSLOCK = 58
KEY_NUMLOCK = 69

TERMINATORS = frozenset({KEY_ENTER, KEY_KPENTER})
SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
#: Held with a character, these make it a shortcut, not text: the burst is garbage.
CHORD_KEYS = frozenset(
    {KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT, KEY_LEFTMETA, KEY_RIGHTMETA}
)
#: Lock keys some scanners send at start-up; they carry no character.
LOCK_KEYS = frozenset({KEY_CAPSLOCK, KEY_NUMLOCK})


def _row(first_code: int, plain: str, shifted: str) -> dict[int, tuple[str, str]]:
    return {first_code + i: (p, s) for i, (p, s) in enumerate(zip(plain, shifted, strict=True))}


#: code -> (unshifted, shifted) for the main block of a US keyboard.
MAIN_KEYS: dict[int, tuple[str, str]] = {
    **_row(2, "1234567890-=", "!@#$%^&*()_+"),
    **_row(16, "qwertyuiop[]", "QWERTYUIOP{}"),
    **_row(30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    **_row(43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
    57: (" ", " "),
}

#: Keypad keys, as typed with NumLock on (scanners in "keypad digits" mode); Shift
#: does not change them.
KEYPAD_KEYS: dict[int, str] = {
    71: "7",
    72: "8",
    73: "9",
    74: "-",
    75: "4",
    76: "5",
    77: "6",
    78: "+",
    79: "1",
    80: "2",
    81: "3",
    82: "0",
    83: ".",
    55: "*",
    98: "/",
}


def character(code: int, shifted: bool) -> str | None:
    """The character a key press types, or None for a key that types nothing we accept."""
    if code in MAIN_KEYS:
        return MAIN_KEYS[code][1 if shifted else 0]
    return KEYPAD_KEYS.get(code)


def _reverse() -> dict[str, tuple[int, bool]]:
    table: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in MAIN_KEYS.items():
        table.setdefault(plain, (code, False))
        table.setdefault(shifted, (code, True))
    return table


#: char -> (code, needs Shift), main block only: what a US-layout wedge actually sends.
KEYSTROKE_FOR: dict[str, tuple[int, bool]] = _reverse()
