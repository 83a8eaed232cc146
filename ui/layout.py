"""Rectangle arithmetic for screens: grids, rows and splits with the theme's gap."""

from __future__ import annotations

import pygame


def grid(area: pygame.Rect, rows: int, cols: int, gap: int) -> list[pygame.Rect]:
    """Cells row by row; every cell the same size, ``gap`` between them."""
    cell_w = (area.width - gap * (cols - 1)) // cols
    cell_h = (area.height - gap * (rows - 1)) // rows
    return [
        pygame.Rect(area.x + c * (cell_w + gap), area.y + r * (cell_h + gap), cell_w, cell_h)
        for r in range(rows)
        for c in range(cols)
    ]


def split_h(area: pygame.Rect, fractions: list[float], gap: int) -> list[pygame.Rect]:
    """Columns left to right with widths in proportion to ``fractions``."""
    usable = area.width - gap * (len(fractions) - 1)
    total = sum(fractions)
    out, x = [], area.x
    for f in fractions:
        w = round(usable * f / total)
        out.append(pygame.Rect(x, area.y, w, area.height))
        x += w + gap
    out[-1].width = area.right - out[-1].x
    return out


def split_v(area: pygame.Rect, heights: list[float], gap: int) -> list[pygame.Rect]:
    """Rows top to bottom; a height > 1 is pixels, ≤ 1 a share of what is left."""
    fixed = sum(h for h in heights if h > 1)
    shares = sum(h for h in heights if h <= 1) or 1
    left = area.height - fixed - gap * (len(heights) - 1)
    out, y = [], area.y
    for h in heights:
        px = round(h) if h > 1 else round(left * h / shares)
        out.append(pygame.Rect(area.x, y, area.width, px))
        y += px + gap
    out[-1].height = area.bottom - out[-1].y
    return out


def rows_fit(area_height: int, row: int, gap: int) -> int:
    """How many rows of height ``row`` fit in ``area_height``."""
    return max(1, (area_height + gap) // (row + gap))
