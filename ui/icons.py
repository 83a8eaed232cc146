"""Pictograms drawn with pygame primitives: a picture beside every word, no image files.

Each icon draws into a square ``rect`` in one colour; names are what screens ask for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pygame

Color = tuple[int, int, int]
_Painter = Callable[[pygame.Surface, pygame.Rect, Color, int], None]
_ICONS: dict[str, _Painter] = {}


def icon(name: str) -> Callable[[_Painter], _Painter]:
    def register(painter: _Painter) -> _Painter:
        _ICONS[name] = painter
        return painter

    return register


def names() -> list[str]:
    return sorted(_ICONS)


def draw_icon(surface: pygame.Surface, name: str, rect: pygame.Rect, color: Color) -> None:
    """Draw ``name`` centred in ``rect``; an unknown name draws nothing (logged by tests)."""
    painter = _ICONS.get(name)
    if painter is None:
        return
    side = min(rect.width, rect.height)
    box = pygame.Rect(0, 0, side, side)
    box.center = rect.center
    painter(surface, box, color, max(2, side // 14))


def _p(r: pygame.Rect, fx: float, fy: float) -> tuple[int, int]:
    return (round(r.x + fx * r.width), round(r.y + fy * r.height))


@icon("card")
def _card(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.08, 0.22), (r.w * 0.84, r.h * 0.56)), w, 6)
    for fx, fy in ((0.18, 0.34), (0.34, 0.34), (0.18, 0.5), (0.34, 0.5)):
        pygame.draw.rect(s, c, pygame.Rect(_p(r, fx, fy), (r.w * 0.12, r.h * 0.12)))
    for fy in (0.38, 0.5, 0.62):
        pygame.draw.line(s, c, _p(r, 0.56, fy), _p(r, 0.84, fy), w)


@icon("phone")
def _phone(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.3, 0.08), (r.w * 0.4, r.h * 0.84)), w, 8)
    pygame.draw.circle(s, c, _p(r, 0.5, 0.82), max(2, r.w // 20))
    pygame.draw.line(s, c, _p(r, 0.42, 0.16), _p(r, 0.58, 0.16), w)


@icon("leaf")
def _leaf(s, r, c, w):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.22, 0.12), (r.w * 0.56, r.h * 0.64)))
    pygame.draw.line(s, c, _p(r, 0.5, 0.5), _p(r, 0.5, 0.92), w + 1)


@icon("apple")
def _apple(s, r, c, w):
    pygame.draw.circle(s, c, _p(r, 0.38, 0.58), r.w * 0.27)
    pygame.draw.circle(s, c, _p(r, 0.62, 0.58), r.w * 0.27)
    pygame.draw.line(s, c, _p(r, 0.5, 0.3), _p(r, 0.56, 0.1), w)


@icon("tea")
def _tea(s, r, c, w):
    for fx, tilt in ((0.36, -0.1), (0.64, 0.1)):
        box = pygame.Rect(_p(r, fx - 0.14 + tilt, 0.14), (r.w * 0.28, r.h * 0.5))
        pygame.draw.ellipse(s, c, box)
    pygame.draw.line(s, c, _p(r, 0.5, 0.55), _p(r, 0.5, 0.92), w + 1)


@icon("cow")
def _cow(s, r, c, w):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.1, 0.3), (r.w * 0.62, r.h * 0.36)))
    pygame.draw.circle(s, c, _p(r, 0.8, 0.36), r.w * 0.13)
    for fx in (0.2, 0.3, 0.52, 0.62):
        pygame.draw.line(s, c, _p(r, fx, 0.6), _p(r, fx, 0.88), w + 1)


@icon("egg")
def _egg(s, r, c, w):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.26, 0.1), (r.w * 0.48, r.h * 0.8)))


@icon("fish")
def _fish(s, r, c, w):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.1, 0.3), (r.w * 0.6, r.h * 0.4)))
    pygame.draw.polygon(s, c, [_p(r, 0.66, 0.5), _p(r, 0.92, 0.28), _p(r, 0.92, 0.72)])


@icon("scale")
def _scale(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.12, 0.62), (r.w * 0.76, r.h * 0.22)), 0, 4)
    pygame.draw.line(s, c, _p(r, 0.5, 0.62), _p(r, 0.5, 0.32), w + 1)
    pygame.draw.line(s, c, _p(r, 0.2, 0.3), _p(r, 0.8, 0.3), w + 1)


@icon("spray")
def _spray(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.3, 0.4), (r.w * 0.3, r.h * 0.5)), 0, 4)
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.36, 0.24), (r.w * 0.18, r.h * 0.16)))
    for fx, fy in ((0.72, 0.18), (0.8, 0.3), (0.72, 0.42), (0.88, 0.2)):
        pygame.draw.circle(s, c, _p(r, fx, fy), max(2, r.w // 22))


@icon("pill")
def _pill(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.14, 0.36), (r.w * 0.72, r.h * 0.28)), w, 20)
    pygame.draw.line(s, c, _p(r, 0.5, 0.36), _p(r, 0.5, 0.64), w)


@icon("none")
def _none(s, r, c, w):
    pygame.draw.circle(s, c, r.center, r.w * 0.38, w + 1)
    pygame.draw.line(s, c, _p(r, 0.24, 0.76), _p(r, 0.76, 0.24), w + 1)


@icon("check")
def _check(s, r, c, w):
    pygame.draw.lines(s, c, False, [_p(r, 0.16, 0.52), _p(r, 0.4, 0.76), _p(r, 0.86, 0.24)], w * 2)


@icon("cross")
def _cross(s, r, c, w):
    pygame.draw.line(s, c, _p(r, 0.2, 0.2), _p(r, 0.8, 0.8), w * 2)
    pygame.draw.line(s, c, _p(r, 0.8, 0.2), _p(r, 0.2, 0.8), w * 2)


@icon("printer")
def _printer(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.12, 0.36), (r.w * 0.76, r.h * 0.34)), 0, 4)
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.28, 0.12), (r.w * 0.44, r.h * 0.22)), w)
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.28, 0.62), (r.w * 0.44, r.h * 0.28)), w)


@icon("warning")
def _warning(s, r, c, w):
    pygame.draw.polygon(s, c, [_p(r, 0.5, 0.08), _p(r, 0.94, 0.88), _p(r, 0.06, 0.88)], w + 1)
    pygame.draw.line(s, c, _p(r, 0.5, 0.36), _p(r, 0.5, 0.64), w + 2)
    pygame.draw.circle(s, c, _p(r, 0.5, 0.76), max(2, r.w // 16))


@icon("home")
def _home(s, r, c, w):
    pygame.draw.polygon(s, c, [_p(r, 0.5, 0.1), _p(r, 0.92, 0.48), _p(r, 0.08, 0.48)])
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.2, 0.46), (r.w * 0.6, r.h * 0.44)))


@icon("back")
def _back(s, r, c, w):
    pygame.draw.polygon(s, c, [_p(r, 0.1, 0.5), _p(r, 0.46, 0.16), _p(r, 0.46, 0.84)])
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.44, 0.38), (r.w * 0.46, r.h * 0.24)))


@icon("person")
def _person(s, r, c, w):
    pygame.draw.circle(s, c, _p(r, 0.5, 0.3), r.w * 0.17)
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.2, 0.52), (r.w * 0.6, r.h * 0.5)))


@icon("lock")
def _lock(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.2, 0.44), (r.w * 0.6, r.h * 0.46)), 0, 4)
    pygame.draw.arc(s, c, pygame.Rect(_p(r, 0.3, 0.12), (r.w * 0.4, r.h * 0.64)), 0, math.pi, w)


@icon("flask")
def _flask(s, r, c, w):
    pts = [
        _p(r, 0.4, 0.1),
        _p(r, 0.6, 0.1),
        _p(r, 0.6, 0.4),
        _p(r, 0.86, 0.88),
        _p(r, 0.14, 0.88),
        _p(r, 0.4, 0.4),
    ]
    pygame.draw.polygon(s, c, pts, w + 1)
    pygame.draw.polygon(
        s, c, [_p(r, 0.28, 0.64), _p(r, 0.72, 0.64), _p(r, 0.86, 0.88), _p(r, 0.14, 0.88)]
    )


@icon("gear")
def _gear(s, r, c, w):
    for k in range(8):
        a = k * math.pi / 4
        x, y = r.centerx + math.cos(a) * r.w * 0.36, r.centery + math.sin(a) * r.h * 0.36
        pygame.draw.circle(s, c, (round(x), round(y)), max(2, r.w // 10))
    pygame.draw.circle(s, c, r.center, r.w * 0.3)


@icon("search")
def _search(s, r, c, w):
    pygame.draw.circle(s, c, _p(r, 0.42, 0.42), r.w * 0.26, w + 1)
    pygame.draw.line(s, c, _p(r, 0.6, 0.6), _p(r, 0.88, 0.88), w * 2)


@icon("speaker")
def _speaker(s, r, c, w):
    pygame.draw.polygon(
        s,
        c,
        [
            _p(r, 0.1, 0.38),
            _p(r, 0.28, 0.38),
            _p(r, 0.5, 0.16),
            _p(r, 0.5, 0.84),
            _p(r, 0.28, 0.62),
            _p(r, 0.1, 0.62),
        ],
    )
    for k in (0.2, 0.32):
        box = pygame.Rect(_p(r, 0.5 - k, 0.5 - k * 1.2), (r.w * k * 2, r.h * k * 2.4))
        pygame.draw.arc(s, c, box, -0.9, 0.9, w)


@icon("mute")
def _mute(s, r, c, w):
    pygame.draw.polygon(
        s,
        c,
        [
            _p(r, 0.1, 0.38),
            _p(r, 0.28, 0.38),
            _p(r, 0.5, 0.16),
            _p(r, 0.5, 0.84),
            _p(r, 0.28, 0.62),
            _p(r, 0.1, 0.62),
        ],
    )
    pygame.draw.line(s, c, _p(r, 0.62, 0.36), _p(r, 0.9, 0.64), w + 1)
    pygame.draw.line(s, c, _p(r, 0.9, 0.36), _p(r, 0.62, 0.64), w + 1)


@icon("globe")
def _globe(s, r, c, w):
    pygame.draw.circle(s, c, r.center, r.w * 0.4, w)
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.34, 0.1), (r.w * 0.32, r.h * 0.8)), w)
    pygame.draw.line(s, c, _p(r, 0.1, 0.5), _p(r, 0.9, 0.5), w)


@icon("plus")
def _plus(s, r, c, w):
    pygame.draw.line(s, c, _p(r, 0.5, 0.18), _p(r, 0.5, 0.82), w * 2)
    pygame.draw.line(s, c, _p(r, 0.18, 0.5), _p(r, 0.82, 0.5), w * 2)


@icon("minus")
def _minus(s, r, c, w):
    pygame.draw.line(s, c, _p(r, 0.18, 0.5), _p(r, 0.82, 0.5), w * 2)


@icon("list")
def _list(s, r, c, w):
    for fy in (0.25, 0.5, 0.75):
        pygame.draw.circle(s, c, _p(r, 0.18, fy), max(2, r.w // 14))
        pygame.draw.line(s, c, _p(r, 0.32, fy), _p(r, 0.88, fy), w + 1)


@icon("hand")
def _hand(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.26, 0.44), (r.w * 0.5, r.h * 0.46)), 0, 8)
    for k, fx in enumerate((0.28, 0.4, 0.52, 0.64)):
        top = 0.14 + (0.06 if k in (0, 3) else 0)
        pygame.draw.rect(s, c, pygame.Rect(_p(r, fx, top), (r.w * 0.1, r.h * 0.4)), 0, 4)


@icon("barcode")
def _barcode(s, r, c, w):
    x = 0.12
    for k in range(11):
        width = (0.03, 0.06, 0.02)[k % 3]
        pygame.draw.rect(s, c, pygame.Rect(_p(r, x, 0.2), (r.w * width, r.h * 0.6)))
        x += width + 0.035


# -- products: one picture per kind (leafy, root, fruit vegetable, pod, mushroom, ...) --------


def _poly(s, r, c, points):
    pygame.draw.polygon(s, c, [_p(r, fx, fy) for fx, fy in points])


def _oval(s, r, c, fx, fy, fw, fh, width=0):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, fx, fy), (r.w * fw, r.h * fh)), width)


@icon("leafy")
def _leafy(s, r, c, w):
    """A head of leafy greens: fanned leaves over a white stalk base."""
    for fx, tilt in ((0.2, -0.04), (0.4, 0.0), (0.6, 0.04)):
        _oval(s, r, c, fx + tilt, 0.08, 0.22, 0.56)
    _poly(s, r, c, [(0.3, 0.6), (0.7, 0.6), (0.62, 0.92), (0.38, 0.92)])
    pygame.draw.line(s, c, _p(r, 0.5, 0.92), _p(r, 0.5, 0.3), max(1, w // 2))


@icon("root")
def _root(s, r, c, w):
    """A carrot: a long cone with a leafy top."""
    _poly(s, r, c, [(0.3, 0.34), (0.7, 0.34), (0.5, 0.96)])
    for fx in (0.36, 0.5, 0.64):
        pygame.draw.line(s, c, _p(r, 0.5, 0.34), _p(r, fx, 0.06), w)


@icon("fruit_veg")
def _fruit_veg(s, r, c, w):
    """A tomato: round body with a star of sepals on top."""
    pygame.draw.circle(s, c, _p(r, 0.5, 0.58), r.w * 0.36)
    pygame.draw.line(s, c, _p(r, 0.5, 0.24), _p(r, 0.5, 0.06), w)
    for fx in (0.3, 0.7):
        pygame.draw.line(s, c, _p(r, 0.5, 0.2), _p(r, fx, 0.14), w)


@icon("gourd")
def _gourd(s, r, c, w):
    """A cucumber or aubergine: a long bent body with a stalk."""
    pygame.draw.line(s, c, _p(r, 0.22, 0.78), _p(r, 0.74, 0.26), max(4, r.w // 4))
    pygame.draw.circle(s, c, _p(r, 0.22, 0.78), r.w // 8)
    pygame.draw.line(s, c, _p(r, 0.74, 0.26), _p(r, 0.86, 0.1), w)


@icon("pod")
def _pod(s, r, c, w):
    """Beans: a curved pod with seeds showing."""
    pygame.draw.arc(s, c, pygame.Rect(_p(r, 0.08, 0.1), (r.w * 0.84, r.h * 1.2)), 0.5, 2.6, w * 3)
    for fx, fy in ((0.24, 0.3), (0.4, 0.17), (0.6, 0.17), (0.76, 0.3)):
        pygame.draw.circle(s, c, _p(r, fx, fy + 0.14), max(2, r.w // 14))


@icon("mushroom")
def _mushroom(s, r, c, w):
    pygame.draw.ellipse(s, c, pygame.Rect(_p(r, 0.08, 0.14), (r.w * 0.84, r.h * 0.5)))
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.38, 0.5), (r.w * 0.24, r.h * 0.42)), 0, 6)


@icon("shoot")
def _shoot(s, r, c, w):
    """A bamboo shoot: a tall cone with sheath lines."""
    _poly(s, r, c, [(0.5, 0.04), (0.78, 0.92), (0.22, 0.92)])
    for fy in (0.4, 0.6, 0.78):
        pygame.draw.line(s, (255, 255, 255), _p(r, 0.34, fy), _p(r, 0.66, fy - 0.08), 2)


@icon("broccoli")
def _broccoli(s, r, c, w):
    for fx, fy, rad in ((0.32, 0.36, 0.2), (0.68, 0.36, 0.2), (0.5, 0.26, 0.22)):
        pygame.draw.circle(s, c, _p(r, fx, fy), r.w * rad)
    _poly(s, r, c, [(0.4, 0.5), (0.6, 0.5), (0.58, 0.94), (0.42, 0.94)])


@icon("grapes")
def _grapes(s, r, c, w):
    rad = r.w * 0.11
    for row, count in enumerate((3, 2, 1)):
        for i in range(count):
            fx = 0.5 + (i - (count - 1) / 2) * 0.22
            pygame.draw.circle(s, c, _p(r, fx, 0.32 + row * 0.2), rad)
    pygame.draw.line(s, c, _p(r, 0.5, 0.2), _p(r, 0.56, 0.04), w)


@icon("strawberry")
def _strawberry(s, r, c, w):
    _poly(s, r, c, [(0.14, 0.3), (0.86, 0.3), (0.5, 0.94)])
    pygame.draw.circle(s, c, _p(r, 0.32, 0.34), r.w * 0.18)
    pygame.draw.circle(s, c, _p(r, 0.68, 0.34), r.w * 0.18)
    for fx in (0.3, 0.5, 0.7):
        pygame.draw.line(s, c, _p(r, 0.5, 0.18), _p(r, fx, 0.04), w)


@icon("melon")
def _melon(s, r, c, w):
    """A slice of watermelon: a half disc with seeds."""
    box = pygame.Rect(_p(r, 0.06, -0.2), (r.w * 0.88, r.h * 0.96))
    pygame.draw.ellipse(s, c, box)
    pygame.draw.rect(s, (0, 0, 0, 0), pygame.Rect(_p(r, 0, -0.2), (r.w, r.h * 0.5)))
    _poly(s, r, c, [(0.06, 0.28), (0.94, 0.28), (0.5, 0.8)])


@icon("pig")
def _pig(s, r, c, w):
    _oval(s, r, c, 0.1, 0.3, 0.66, 0.4)
    pygame.draw.circle(s, c, _p(r, 0.78, 0.46), r.w * 0.14)
    _oval(s, r, c, 0.86, 0.42, 0.1, 0.1)
    _poly(s, r, c, [(0.68, 0.3), (0.74, 0.16), (0.8, 0.32)])
    for fx in (0.2, 0.36, 0.52, 0.64):
        pygame.draw.line(s, c, _p(r, fx, 0.62), _p(r, fx, 0.84), w + 1)
    pygame.draw.arc(s, c, pygame.Rect(_p(r, 0.02, 0.3), (r.w * 0.12, r.h * 0.12)), 0, 4, w)


@icon("sheep")
def _sheep(s, r, c, w):
    for fx, fy in ((0.22, 0.42), (0.38, 0.36), (0.54, 0.42), (0.3, 0.56), (0.48, 0.56)):
        pygame.draw.circle(s, c, _p(r, fx, fy), r.w * 0.14)
    _oval(s, r, c, 0.66, 0.3, 0.24, 0.18)
    for fx in (0.26, 0.5):
        pygame.draw.line(s, c, _p(r, fx, 0.64), _p(r, fx, 0.9), w + 1)


@icon("chicken")
def _chicken(s, r, c, w):
    _oval(s, r, c, 0.12, 0.36, 0.6, 0.4)
    pygame.draw.circle(s, c, _p(r, 0.7, 0.3), r.w * 0.14)
    _poly(s, r, c, [(0.82, 0.26), (0.96, 0.32), (0.82, 0.36)])
    _poly(s, r, c, [(0.64, 0.16), (0.7, 0.06), (0.76, 0.16)])
    _poly(s, r, c, [(0.12, 0.5), (0.04, 0.24), (0.24, 0.4)])
    for fx in (0.36, 0.5):
        pygame.draw.line(s, c, _p(r, fx, 0.74), _p(r, fx, 0.92), w)


@icon("shrimp")
def _shrimp(s, r, c, w):
    pygame.draw.arc(s, c, pygame.Rect(_p(r, 0.12, 0.16), (r.w * 0.7, r.h * 0.7)), 1.2, 4.6, w * 4)
    _poly(s, r, c, [(0.5, 0.86), (0.66, 0.96), (0.64, 0.76)])
    for fx in (0.4, 0.5):
        pygame.draw.line(s, c, _p(r, fx, 0.2), _p(r, fx + 0.46, 0.06), max(1, w // 2))


@icon("crab")
def _crab(s, r, c, w):
    _oval(s, r, c, 0.2, 0.4, 0.6, 0.36)
    for side in (-1, 1):
        x0 = 0.5 + side * 0.26
        pygame.draw.line(s, c, _p(r, x0, 0.46), _p(r, 0.5 + side * 0.38, 0.24), w + 1)
        pygame.draw.circle(s, c, _p(r, 0.5 + side * 0.38, 0.2), r.w * 0.08)
        for dy in (0.58, 0.7):
            pygame.draw.line(s, c, _p(r, x0, dy), _p(r, 0.5 + side * 0.46, dy + 0.12), w)


@icon("turtle")
def _turtle(s, r, c, w):
    _oval(s, r, c, 0.18, 0.28, 0.6, 0.44)
    pygame.draw.circle(s, c, _p(r, 0.86, 0.5), r.w * 0.09)
    for fx, fy in ((0.24, 0.74), (0.66, 0.74), (0.24, 0.26), (0.66, 0.26)):
        pygame.draw.circle(s, c, _p(r, fx, fy), r.w * 0.07)


# -- interface ---------------------------------------------------------------------------


@icon("forward")
def _forward(s, r, c, w):
    _poly(s, r, c, [(0.9, 0.5), (0.54, 0.16), (0.54, 0.84)])
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.1, 0.38), (r.w * 0.46, r.h * 0.24)))


@icon("clock")
def _clock(s, r, c, w):
    pygame.draw.circle(s, c, r.center, r.w * 0.4, w + 1)
    pygame.draw.line(s, c, r.center, _p(r, 0.5, 0.22), w + 1)
    pygame.draw.line(s, c, r.center, _p(r, 0.7, 0.6), w + 1)


@icon("pen")
def _pen(s, r, c, w):
    """Write by hand: a pen on a line."""
    pygame.draw.line(s, c, _p(r, 0.26, 0.7), _p(r, 0.78, 0.18), max(4, r.w // 7))
    _poly(s, r, c, [(0.2, 0.82), (0.22, 0.66), (0.34, 0.76)])
    pygame.draw.line(s, c, _p(r, 0.1, 0.9), _p(r, 0.9, 0.9), w)


@icon("keyboard")
def _keyboard(s, r, c, w):
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.06, 0.24), (r.w * 0.88, r.h * 0.52)), w, 6)
    for row in range(2):
        for col in range(5):
            box = pygame.Rect(_p(r, 0.14 + col * 0.15, 0.32 + row * 0.16), (r.w * 0.1, r.h * 0.1))
            pygame.draw.rect(s, c, box)
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.28, 0.64), (r.w * 0.44, r.h * 0.06)))


@icon("bell")
def _bell(s, r, c, w):
    """Call staff."""
    _poly(s, r, c, [(0.5, 0.12), (0.72, 0.3), (0.8, 0.72), (0.2, 0.72), (0.28, 0.3)])
    pygame.draw.circle(s, c, _p(r, 0.5, 0.82), r.w * 0.08)
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.12, 0.68), (r.w * 0.76, r.h * 0.08)), 0, 3)


@icon("sim")
def _sim(s, r, c, w):
    """The simulation bench: a chip with pins."""
    pygame.draw.rect(s, c, pygame.Rect(_p(r, 0.24, 0.24), (r.w * 0.52, r.h * 0.52)), w, 4)
    for i in range(3):
        f = 0.34 + i * 0.16
        for a, b in (((f, 0.1), (f, 0.24)), ((f, 0.76), (f, 0.9)),
                     ((0.1, f), (0.24, f)), ((0.76, f), (0.9, f))):  # fmt: skip
            pygame.draw.line(s, c, _p(r, *a), _p(r, *b), w)
