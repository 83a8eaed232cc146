"""Product catalogue, input classes and certificate templates: all loaded from data files."""

from __future__ import annotations

import difflib
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.domain.model import UNIT_MAXIMUM, Basis, Style

DATA_DIR = Path(__file__).parents[1] / "data"


class OutOfScopeError(ValueError):
    """The product may not carry a certificate; the message says why in plain words."""


class ProductNotFound(LookupError):
    """No product, or more than one, answers to what was typed; ``suggestions`` are the
    nearest in-scope products (best first) for the refusal to offer."""

    def __init__(self, text: str, suggestions: list[Product], ambiguous: bool = False) -> None:
        self.text = text
        self.suggestions = suggestions
        self.ambiguous = ambiguous
        names = "、".join(f"{p.name} ({p.code})" for p in suggestions)
        if ambiguous:
            message = f"“{text}”可指多个产品：{names}，请用名称或编码"
        elif suggestions:
            message = f"产品目录中没有“{text}”；您是不是要找：{names}"
        else:
            message = f"产品目录中没有“{text}”"
        super().__init__(message)
        self.message = message


#: Other ways to write a catalogue unit: 千克 and kg are 公斤 on the certificate.
UNIT_ALIASES = {
    "千克": "公斤",
    "kg": "公斤",
    "kgs": "公斤",
    "公斤": "公斤",
    "市斤": "斤",
    "jin": "斤",
    "t": "吨",
    "公吨": "吨",
}


def canonical_unit(text: str) -> str:
    """The catalogue's spelling of a unit (千克, kg, KG -> 公斤); others unchanged."""
    key = unicodedata.normalize("NFKC", text).strip()
    return UNIT_ALIASES.get(key.casefold(), key)


def _key(text: str) -> str:
    """Lookup form: full-width folded, case folded, spaces and hyphens dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if not c.isspace() and c not in "-_'·")


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    name_en: str
    pinyin: str
    initials: str
    category: str
    default_unit: str
    units: tuple[str, ...]
    in_scope: bool = True
    refusal: str = ""
    #: Sulfur- or pigment-rich produce that gives enzyme-inhibition false positives.
    enzyme_interference: bool = False


#: Legal status of an input class (inputs.toml ``status``).
INPUT_STATUSES = ("allowed", "restricted", "banned")


@dataclass(frozen=True)
class InputClass:
    code: str
    kind: str  # "pesticide" or "vet_drug"
    name: str
    name_en: str
    #: "allowed", "restricted" (限用) or "banned" (禁用): a banned class is never
    #: offered as used, and declaring it refuses the certificate (docs/certificates.md).
    status: str = "allowed"
    #: The legal text that bans or restricts it.
    source: str = ""
    #: In a farmer's words (products they buy, then the class) for the touch screen;
    #: the label and the county keep ``name``.
    words: str = ""
    words_en: str = ""

    def __post_init__(self) -> None:
        if self.status not in INPUT_STATUSES:
            raise ValueError(f"input {self.code}: status must be one of {INPUT_STATUSES}")
        if self.status != "allowed" and not self.source:
            raise ValueError(f"input {self.code}: a {self.status} input needs its legal source")

    @property
    def banned(self) -> bool:
        return self.status == "banned"


@dataclass(frozen=True)
class Template:
    """A certificate template: wording and field labels, versioned as data."""

    id: str
    edition: str
    style: Style
    version: int
    title: str
    commitment: str
    commitment_en: str
    bases: tuple[Basis, ...]
    code: int
    labels: dict[str, str]
    basis_text: dict[str, str]
    labels_en: dict[str, str]
    basis_text_en: dict[str, str]

    def label(self, key: str, language: str) -> str:
        table = self.labels_en if language == "en" else self.labels
        return table.get(key, self.labels.get(key, key))

    def basis_label(self, basis: str, language: str) -> str:
        return (self.basis_text_en if language == "en" else self.basis_text)[basis]


class Catalogue:
    """The products a certificate may name, looked up by code or pinyin initials."""

    def __init__(
        self, categories: list[Category], products: list[Product], inputs: list[InputClass]
    ) -> None:
        self.categories = {c.code: c for c in categories}
        self.products = {p.code: p for p in products}
        self.inputs = {i.code: i for i in inputs}

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR, extra: dict[str, Any] | None = None) -> Catalogue:
        """The embedded catalogue, plus the county's ``extra`` (``[catalogue]`` of the
        configuration, from a signed bundle): an entry with a known code replaces it.
        ValueError names an entry that cannot be used."""
        products_doc = tomllib.loads((data_dir / "products.toml").read_text("utf-8"))
        inputs_doc = tomllib.loads((data_dir / "inputs.toml").read_text("utf-8"))
        categories = [Category(**c) for c in products_doc["category"]]
        known_categories = {c.code for c in categories} | {"out_of_scope"}
        by_code: dict[str, Product] = {}
        for entry in [*products_doc["product"], *(extra or {}).get("products", [])]:
            entry = dict(entry)
            entry["units"] = tuple(entry["units"])
            product = Product(**entry)
            if product.category not in known_categories:
                raise ValueError(f"product {product.code}: unknown category {product.category}")
            bad = [u for u in product.units if u not in UNIT_MAXIMUM]
            if bad or product.default_unit not in product.units:
                raise ValueError(f"product {product.code}: units {product.units} not usable")
            by_code[product.code] = product
        names = [p.name for p in by_code.values()]
        if len(names) != len(set(names)):
            raise ValueError("two products share a name")
        inputs: dict[str, InputClass] = {}
        for item in [*inputs_doc["input"], *(extra or {}).get("inputs", [])]:
            found = InputClass(**item)
            earlier = inputs.get(found.code)
            if earlier is not None and earlier.banned and not found.banned:
                # A county may add bans, never lift a national one.
                raise ValueError(f"input {found.code}: banned ({earlier.source}), cannot be lifted")
            inputs[found.code] = found
        _refuse_lookalikes(list(inputs.values()))
        return cls(categories, list(by_code.values()), list(inputs.values()))

    def declarable_inputs(self, kind: str | None = None) -> list[InputClass]:
        """The input classes a producer may declare as used (never a banned one)."""
        return [
            i for i in self.inputs.values() if not i.banned and (kind is None or i.kind == kind)
        ]

    def banned_inputs(self, codes: tuple[str, ...] | list[str]) -> list[InputClass]:
        """The banned classes among ``codes`` (unknown codes are validation's business)."""
        return [self.inputs[c] for c in codes if c in self.inputs and self.inputs[c].banned]

    def product_for_certificate(self, code: str) -> Product:
        """The product, or OutOfScopeError with the reason a certificate cannot name it."""
        product = self.products.get(code)
        if product is None:
            raise OutOfScopeError(f"未知产品编码 {code!r}：请从产品目录中选择")
        if not product.in_scope:
            raise OutOfScopeError(f"{product.name}：{product.refusal}")
        return product

    def _keys(self, product: Product) -> tuple[str, ...]:
        return tuple(
            _key(k)
            for k in (product.code, product.name, product.pinyin, product.initials, product.name_en)
            if k
        )

    def find(self, text: str) -> Product:
        """The one product whose code, name, pinyin, pinyin initials or English name is
        ``text`` (spaces, case and full-width forms ignored), or ProductNotFound with
        the nearest products. An out-of-scope product is found (its refusal says why)."""
        key = _key(text)
        if not key:
            raise ProductNotFound(text.strip(), [])
        exact = [p for p in self.products.values() if key in self._keys(p)]
        # A code or a name is unique; initials (QC: 青菜 and 芹菜) may not be.
        strong = [p for p in exact if key in (_key(p.code), _key(p.name))]
        if len(strong) == 1:
            return strong[0]
        if len(exact) == 1:
            return exact[0]
        if exact:
            raise ProductNotFound(text.strip(), exact, ambiguous=True)
        raise ProductNotFound(text.strip(), self.suggest(text))

    def suggest(self, text: str, limit: int = 3) -> list[Product]:
        """In-scope products nearest to ``text``: prefixes first, then close spellings."""
        key = _key(text)
        in_scope = [p for p in self.products.values() if p.in_scope]
        found = [p for p in in_scope if key and any(k.startswith(key) for k in self._keys(p))]
        by_key = {k: p for p in in_scope for k in self._keys(p)}
        for close in difflib.get_close_matches(key, list(by_key), n=limit * 3, cutoff=0.6):
            found.append(by_key[close])
        return list(dict.fromkeys(found))[:limit]

    def unit_for(self, product: Product, text: str | None) -> str:
        """The catalogue's unit for what was typed (default: the product's own)."""
        if text is None or not text.strip():
            return product.default_unit
        return canonical_unit(text)

    def search(self, query: str) -> list[Product]:
        """In-scope products whose name, pinyin or pinyin initials start with ``query``."""
        q = query.strip().lower()
        if not q:
            return [p for p in self.products.values() if p.in_scope]
        compact = q.replace(" ", "")
        return [
            p
            for p in self.products.values()
            if p.in_scope
            and (
                p.name.startswith(query.strip())
                or p.initials.lower().startswith(compact)
                or p.pinyin.replace(" ", "").startswith(compact)
            )
        ]


def _refuse_lookalikes(inputs: list[InputClass]) -> None:
    """Two input classes with one name (a second, allowed 孔雀石绿 beside the banned one),
    or codes differing only by case or width (``Nitrofuran``): either lets a banned
    substance be declared under an allowed entry."""
    names: dict[str, str] = {}
    codes: dict[str, str] = {}
    for item in inputs:
        for seen, key, what in ((names, _key(item.name), "name"), (codes, _key(item.code), "code")):
            other = seen.setdefault(key, item.code)
            if other != item.code:
                raise ValueError(f"input {item.code}: same {what} as input {other}")


def load_templates(data_dir: Path = DATA_DIR) -> dict[str, Template]:
    templates = {}
    for path in sorted((data_dir / "templates").glob("*.toml")):
        doc = tomllib.loads(path.read_text("utf-8"))
        templates[doc["id"]] = Template(
            id=doc["id"],
            edition=doc["edition"],
            style=Style(doc["style"]),
            version=int(doc["version"]),
            title=doc["title"],
            commitment=doc["commitment"],
            commitment_en=doc["commitment_en"],
            bases=tuple(Basis(b) for b in doc["bases"]),
            code=int(doc["code"]),
            labels=dict(doc["labels"]),
            basis_text=dict(doc["basis_text"]),
            labels_en=dict(doc["labels_en"]),
            basis_text_en=dict(doc["basis_text_en"]),
        )
    return templates


def template_for(templates: dict[str, Template], edition: str, style: Style) -> Template:
    """The newest template of an edition for a style; 2020 has only 样式一."""
    candidates = [t for t in templates.values() if t.edition == edition and t.style == style]
    if not candidates:
        raise OutOfScopeError(f"模板 {edition} 没有 {style.value}")
    return max(candidates, key=lambda t: t.version)
