import pytest
from pypinyin import Style as PinyinStyle
from pypinyin import lazy_pinyin

from kiosk.domain.catalogue import (
    Catalogue,
    OutOfScopeError,
    ProductNotFound,
    load_templates,
    template_for,
)
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


@pytest.mark.parametrize("typed", ["V001", "v001", "青菜", " 青菜 ", "qingcai", "Qing Cai",
                                   "Bok choy", "BOK CHOY", "ｖ００１"])  # fmt: skip
def test_find_by_code_name_pinyin_english_trimmed(typed: str) -> None:
    assert Catalogue.load().find(typed).code == "V001"


def test_find_refuses_with_the_nearest_products() -> None:
    catalogue = Catalogue.load()
    with pytest.raises(ProductNotFound) as refused:
        catalogue.find("qingca")
    assert refused.value.suggestions[0].code == "V001"
    assert "青菜 (V001)" in refused.value.message
    with pytest.raises(ProductNotFound) as refused:
        catalogue.find("白菜")
    assert [p.name for p in refused.value.suggestions] == ["大白菜"]
    with pytest.raises(ProductNotFound) as refused:  # 青菜 and 芹菜 are both QC
        catalogue.find("qc")
    assert refused.value.ambiguous
    assert {p.code for p in refused.value.suggestions} == {"V001", "V004"}
    assert catalogue.find("fq").name == "番茄"  # unique initials are enough


UNITS = [("千克", "公斤"), ("kg", "公斤"), ("KG", "公斤"), (" 公斤", "公斤"), ("斤", "斤")]


@pytest.mark.parametrize(("typed", "unit"), UNITS)
def test_unit_aliases_map_to_the_catalogue_units(typed: str, unit: str) -> None:
    catalogue = Catalogue.load()
    assert catalogue.unit_for(catalogue.products["V001"], typed) == unit
    assert catalogue.unit_for(catalogue.products["V001"], None) == "公斤"
