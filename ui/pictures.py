"""Which picture shows each product: one per kind at least, so a farmer who cannot read
the name still finds 青菜 apart from 萝卜, 香菇 apart from 鸡蛋 (icons: ui/icons.py)."""

from __future__ import annotations

from kiosk.domain.catalogue import Product

#: A category's picture on the category tile.
CATEGORY_PICTURES = {
    "vegetable": "leafy",
    "fruit": "apple",
    "tea": "tea",
    "livestock": "pig",
    "egg": "egg",
    "aquatic": "fish",
}
#: Per product code, where the kind differs from the category's picture.
PRODUCT_PICTURES = {
    # root and bulb vegetables
    "V013": "root", "V014": "root", "V015": "root", "V016": "root", "V017": "root",
    # fruit vegetables
    "V007": "fruit_veg", "V010": "fruit_veg",
    "V008": "gourd", "V009": "gourd", "V020": "gourd", "V021": "gourd",
    # pods, flower heads, shoots
    "V011": "pod", "V012": "pod", "V019": "broccoli", "V026": "shoot",
    # cultivated fungi
    "V023": "mushroom", "V024": "mushroom", "V025": "mushroom",
    # fruit
    "F004": "grapes", "F007": "grapes", "F011": "grapes", "F005": "strawberry",
    "F009": "melon", "F010": "melon",
    # livestock and poultry
    "L001": "pig", "L002": "cow", "L003": "sheep",
    "L004": "chicken", "L005": "chicken", "L006": "chicken",
    # farmed aquatic products
    "A006": "shrimp", "A007": "shrimp", "A008": "turtle", "A009": "crab",
}  # fmt: skip


def product_picture(product: Product) -> str:
    """The icon name for ``product``: its own kind, else its category's."""
    return PRODUCT_PICTURES.get(product.code) or CATEGORY_PICTURES.get(product.category, "leaf")
