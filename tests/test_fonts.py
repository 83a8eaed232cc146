"""Chinese renders with real glyphs, never the font's missing-glyph box (tofu)."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

from drivers.fonts import find_cjk_font
from kiosk.domain.catalogue import Catalogue, load_templates

#: A private-use code point no CJK font maps: it draws the font's .notdef glyph.
MISSING = "\ue000"


def _mask_bytes(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    mask = font.getmask(char, mode="1")
    return bytes(mask) + bytes(str(mask.size), "ascii")


def label_characters() -> set[str]:
    chars: set[str] = set()
    for template in load_templates().values():
        for text in [template.title, template.commitment, *template.labels.values()]:
            chars.update(text)
        chars.update("".join(template.basis_text.values()))
    catalogue = Catalogue.load()
    for product in catalogue.products.values():
        chars.update(product.name + product.refusal + "".join(product.units))
    chars.update("0123456789-：★")
    return {c for c in chars if not c.isspace()}


def test_every_label_character_has_a_real_glyph() -> None:
    path: Path = find_cjk_font()
    font = ImageFont.truetype(str(path), 24)
    tofu = _mask_bytes(font, MISSING)
    missing = [c for c in sorted(label_characters()) if _mask_bytes(font, c) == tofu]
    assert not missing, f"{path.name} has no glyph for {''.join(missing)}"
    # and the glyphs are distinct, inked shapes
    assert font.getmask("证").getbbox() is not None
    assert _mask_bytes(font, "证") != _mask_bytes(font, "合")
