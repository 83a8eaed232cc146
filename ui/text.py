"""Fonts and fitting text into boxes: CJK wraps per character, Latin per word."""

from __future__ import annotations

import re
from pathlib import Path

import pygame

from ui.theme import MIN_TEXT_PX

_TOKEN = re.compile(r"[A-Za-z0-9'\-/.@:%+]+[,.;:!?)]?|\s+|.", re.S)
#: Chinese line breaking (GB/T 15834 usage): these never start a line ...
_NO_LINE_START = set("，。、；：？！）》」』】”’…,.;:?!)%")
#: ... and these never end one.
_NO_LINE_END = set("（《「『【“‘(")
#: Short labels ("工作人员") shrink to one line rather than split, down to this share.
SHRINK_FOR_ONE_LINE = 0.7


class Fonts:
    """pygame fonts by pixel size, from one CJK font file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[int, pygame.font.Font] = {}

    def get(self, size: int) -> pygame.font.Font:
        font = self._cache.get(size)
        if font is None:
            font = self._cache[size] = pygame.font.Font(str(self.path), size)
        return font


def _tokens(text: str) -> list[str]:
    """Unbreakable pieces: a Latin word, a CJK character with the punctuation that may
    not start a line glued after it and an opening bracket glued before it."""
    out: list[str] = []
    for token in _TOKEN.findall(text):
        glue_after = out and token[0] in _NO_LINE_START and not out[-1].isspace()
        glue_before = out and out[-1] and out[-1][-1] in _NO_LINE_END
        if glue_after or glue_before:
            out[-1] += token
        else:
            out.append(token)
    return out


def _cjk(token: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in token)


def wrap(font: pygame.font.Font, text: str, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (a single over-long word may overflow).

    A paragraph never ends with one lone character on its last line ("负\n责。"): one
    more comes down with it when the line above can spare it.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        lines_here: list[list[str]] = [[]]
        for token in _tokens(paragraph):
            if font.size(line + token)[0] <= width:
                line += token
                lines_here[-1].append(token)
                continue
            if line.strip():
                lines_here.append([])
            line = "" if token.isspace() else token
            if line:
                lines_here[-1].append(token)
        last = lines_here[-1]
        if len(lines_here) > 1 and len(last) == 1 and _cjk(last[0]):
            above = lines_here[-2]
            if len(above) > 2 and _cjk(above[-1]):
                moved = above.pop()
                if font.size(moved + last[0])[0] <= width:
                    last.insert(0, moved)
                else:
                    above.append(moved)
        lines.extend("".join(tokens).strip() for tokens in lines_here)
    return lines


def fit(
    fonts: Fonts, text: str, width: int, height: int, max_px: int, min_px: int = MIN_TEXT_PX
) -> tuple[int, list[str], bool]:
    """(size, lines, fits): the largest size from ``max_px`` down whose wrapped lines fit.

    A short label that fits on one line a little smaller is shrunk rather than split.
    """
    size = max(max_px, min_px)
    if len(text) <= 8 and "\n" not in text:
        floor = max(min_px, round(size * SHRINK_FOR_ONE_LINE))
        for one in range(size, floor - 1, -2):
            font = fonts.get(one)
            if font.size(text)[0] <= width and font.get_linesize() <= height:
                return one, [text], True
    while True:
        font = fonts.get(size)
        lines = wrap(font, text, width)
        tall = len(lines) * font.get_linesize()
        wide = max((font.size(line)[0] for line in lines), default=0)
        if tall <= height and wide <= width:
            return size, lines, True
        if size <= min_px:
            return size, lines, False
        size = max(min_px, size - 2)
