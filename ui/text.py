"""Fonts and fitting text into boxes: CJK wraps per character, Latin per word."""

from __future__ import annotations

import re
from pathlib import Path

import pygame

from ui.theme import MIN_TEXT_PX

_TOKEN = re.compile(r"[A-Za-z0-9'\-/.@:%+]+[,.;:!?)]?|\s+|.", re.S)
_NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)%")


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
    out: list[str] = []
    for token in _TOKEN.findall(text):
        if out and token[0] in _NO_LINE_START and not out[-1].isspace():
            out[-1] += token
        else:
            out.append(token)
    return out


def wrap(font: pygame.font.Font, text: str, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (a single over-long word may overflow)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph):
            if font.size(line + token)[0] <= width:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = "" if token.isspace() else token
        lines.append(line.rstrip())
    return lines


def fit(
    fonts: Fonts, text: str, width: int, height: int, max_px: int, min_px: int = MIN_TEXT_PX
) -> tuple[int, list[str], bool]:
    """(size, lines, fits): the largest size from ``max_px`` down whose wrapped lines fit."""
    size = max(max_px, min_px)
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
