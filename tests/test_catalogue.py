import pytest
from pypinyin import Style as PinyinStyle
from pypinyin import lazy_pinyin

from kiosk.domain.catalogue import Catalogue, OutOfScopeError, load_templates, template_for
from kiosk.domain.model import Basis, Style

SCOPE = {"vegetable", "fruit", "tea", "livestock", "egg", "aquatic"}


def test_stored_pinyin_matches_pypinyin() -> None:
    for product in Catalogue.load().products.values():
        assert product.pinyin == " ".join(lazy_pinyin(product.name)), product.name
        initials = "".join(p[0] for p in lazy_pinyin(product.name, style=PinyinStyle.FIRST_LETTER))
        assert product.initials == initials.upper(), product.name


def test_in_scope_products_cover_the_legal_categories_only() -> None:
    catalogue = Catalogue.load()
    in_scope = {p.category for p in catalogue.products.values() if p.in_scope}
    assert in_scope == SCOPE
    for product in catalogue.products.values():
        assert product.default_unit in product.units


def test_out_of_scope_and_unknown_products_are_refused_with_the_reason() -> None:
    catalogue = Catalogue.load()
    with pytest.raises(OutOfScopeError, match="粮食"):
        catalogue.product_for_certificate("X001")
    with pytest.raises(OutOfScopeError, match="未知产品"):
        catalogue.product_for_certificate("Z999")


def test_pinyin_initial_search() -> None:
    catalogue = Catalogue.load()
    assert [p.name for p in catalogue.search("HG")] == ["黄瓜"]
    assert "番茄" in [p.name for p in catalogue.search("fanqie")]
    assert all(p.in_scope for p in catalogue.search(""))


def test_templates_are_complete_and_selectable() -> None:
    templates = load_templates()
    keys = {"product", "quantity", "origin", "issuer", "phone", "issued_at", "number", "basis"}
    for template in templates.values():
        assert keys <= template.labels.keys(), template.id
        assert keys <= template.labels_en.keys(), template.id
        assert set(template.bases) == set(Basis)
        assert {b.value for b in Basis} <= template.basis_text.keys()
    assert len({t.code for t in templates.values()}) == len(templates)
    assert template_for(templates, "2025", Style.BUYER).labels["issuer"] == "收购者"
    assert template_for(templates, "2020", Style.PRODUCER).basis_text["self_test"] == "自我检测"
    with pytest.raises(OutOfScopeError):
        template_for(templates, "2020", Style.BUYER)
