"""A pinyin input method for names: type a syllable, pick the character.

The table (ui/data/name_pinyin.txt) holds all 8,105 characters of the 通用规范汉字表
under every reading, characters common in names first, so 有, 长, 学, 胜, 利, 家 and
素 can be entered and an elderly user still finds 王 first under "wang";
make_name_pinyin.py rebuilds it (sources and licences in its docstring).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "name_pinyin.txt"


@lru_cache(maxsize=1)
def table(path: Path = TABLE) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            syllable, chars = line.split()
            out[syllable] = chars
    return out


def candidates(letters: str, limit: int = 400) -> list[str]:
    """Characters for an exact syllable first, then for syllables it begins."""
    letters = letters.lower().strip()
    if not letters:
        return []
    t = table()
    found = list(t.get(letters, ""))
    for syllable in sorted(t):
        if syllable != letters and syllable.startswith(letters):
            found.extend(c for c in t[syllable] if c not in found)
    return found[:limit]


def next_letters(letters: str) -> set[str]:
    """Letters that can follow ``letters`` in some syllable: the keyboard greys the rest."""
    letters = letters.lower()
    return {s[len(letters)] for s in table() if s.startswith(letters) and len(s) > len(letters)}
