"""Rapid-test methods as data: kiosk/data/methods.toml, checked when it is loaded.

Thresholds, windows and coverage change with standards and kits, not with code, so the
service never holds a number of its own. A bad file is refused with the method and key
named, because a silently defaulted cut-off would turn positives into negatives.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kiosk.domain.catalogue import DATA_DIR, Product

METHODS_FILE = "methods.toml"
KINDS = ("enzyme", "strip")


class MethodError(ValueError):
    """methods.toml cannot be used; the message names the method and the key."""


@dataclass(frozen=True)
class Method:
    """What every method has: identity, scope and what a negative result rules out."""

    id: str
    name: str
    name_en: str
    standard: str
    kind: str
    analyte: str
    matrices: tuple[str, ...]
    covers: tuple[str, ...]
    lab_methods: tuple[str, ...]
    #: Product codes the standard excludes although their category is in ``matrices``
    #: (NY/T 448: 韭菜, 胡萝卜). A product outside the scope gets no run and no evidence.
    excludes: tuple[str, ...] = field(default=(), kw_only=True)
    #: Further portions, each positive, needed after a first positive before POSITIVE is
    #: final (GB/T 5009.199 station practice: 2). Older stored snapshots lack it: 1.
    retest_portions: int = field(default=1, kw_only=True)
    #: Only these product codes (empty: every product of ``matrices``), e.g. β-agonist
    #: strips for 生猪/牛/羊 only, the cowpea panel for 豇豆 only.
    products: tuple[str, ...] = field(default=(), kw_only=True)
    #: What is put on the strip or in the tube (尿液, 组织…), as the kit's insert says.
    sample_types: tuple[str, ...] = field(default=(), kw_only=True)
    #: Methods of one panel (one analyte each) together cover an input class: the class
    #: counts as covered only when every panel method covering it is negative.
    panel: str = field(default="", kw_only=True)
    #: A run needs a registered, unexpired kit lot (its cut-offs come from the lot file).
    lot_required: bool = field(default=False, kw_only=True)
    #: A short name for the touch screen's tiles (the full name where it fits).
    label: str = field(default="", kw_only=True)
    label_en: str = field(default="", kw_only=True)

    def scope_refusal(self, product: Product, category_name: str) -> tuple[str, str] | None:
        """Why this method cannot test ``product`` (zh-CN, English); None when it can."""
        if product.category not in self.matrices:
            return (
                f"{self.standard}（{self.name}）不适用于{product.name}（{category_name}）",
                f"{self.standard} ({self.name_en}) does not apply to {product.name_en}",
            )
        if self.products and product.code not in self.products:
            return (
                f"{self.standard}（{self.name}）不适用于{product.name}",
                f"{self.standard} ({self.name_en}) does not apply to {product.name_en}",
            )
        if product.code in self.excludes:
            return (
                f"{self.standard}的适用范围不包括{product.name}",
                f"{self.standard} excludes {product.name_en} from its scope",
            )
        return None

    @property
    def unit(self) -> str:
        return "%" if self.kind == "enzyme" else "T/C"

    def as_dict(self) -> dict[str, Any]:
        """The method as stored with each run, so a verdict recomputes with its own numbers."""
        return asdict(self)


@dataclass(frozen=True)
class EnzymeMethod(Method):
    threshold_percent: float
    suspicious_band_percent: float
    control_delta_a: tuple[float, float]
    temperature_c: tuple[float, float]
    duration_s: float
    interval_s: float
    read_window_s: tuple[float, float]


@dataclass(frozen=True)
class StripMethod(Method):
    t_c_cutoff: float
    suspicious_band: float
    t_window_mm: tuple[float, float]
    c_window_mm: tuple[float, float]
    c_min_height: float
    read_window_min: tuple[float, float]


_COMMON = ("id", "name", "name_en", "standard", "kind", "analyte", "matrices", "covers",
           "lab_methods")  # fmt: skip
_OPTIONAL_TEXT = ("label", "label_en", "panel")
_LISTS = ("matrices", "covers", "lab_methods", "excludes", "products", "sample_types")
_FLAGS = ("lot_required",)
_COUNTS = ("retest_portions",)
_RANGES = ("control_delta_a", "temperature_c", "read_window_s", "t_window_mm", "c_window_mm",
           "read_window_min")  # fmt: skip


def method_from_dict(entry: Mapping[str, Any]) -> EnzymeMethod | StripMethod:
    """One method from its TOML table (or from a run's stored snapshot)."""
    ident = entry.get("id", "?")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise MethodError(f"method {ident}: kind must be one of {', '.join(KINDS)}")
    cls = EnzymeMethod if kind == "enzyme" else StripMethod
    declared = fields(cls)
    names = [f.name for f in declared]
    required = [f.name for f in declared if f.default is MISSING]
    missing = [n for n in required if n not in entry]
    unknown = [k for k in entry if k not in names]
    if missing or unknown:
        raise MethodError(
            f"method {ident}: missing {missing or '-'}, unknown keys {unknown or '-'}"
        )
    values: dict[str, Any] = {}
    for name in names:
        if name not in entry:
            continue  # an optional key (older stored snapshots): its default
        value = entry[name]
        if name in _FLAGS:
            if not isinstance(value, bool):
                raise MethodError(f"method {ident}: {name} must be true or false")
        elif name in _COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise MethodError(f"method {ident}: {name} must be a whole number 1-5")
        elif name in _LISTS:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise MethodError(f"method {ident}: {name} must be a list of strings")
            value = tuple(value)
        elif name in _RANGES:
            value = _range(ident, name, value)
        elif name in _OPTIONAL_TEXT:
            if not isinstance(value, str):
                raise MethodError(f"method {ident}: {name} must be text")
        elif name in _COMMON:
            if not isinstance(value, str) or not value:
                raise MethodError(f"method {ident}: {name} must be non-empty text")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise MethodError(f"method {ident}: {name} must be a number >= 0")
            value = float(value)
        values[name] = value
    method = cls(**values)
    _check(method)
    return method


def _range(ident: str, name: str, value: object) -> tuple[float, float]:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and value[0] < value[1]
    ):
        return float(value[0]), float(value[1])
    raise MethodError(f"method {ident}: {name} must be [low, high] with low < high")


def _check(method: Method) -> None:
    if not method.covers or not method.matrices:
        raise MethodError(f"method {method.id}: covers and matrices must not be empty")
    if isinstance(method, EnzymeMethod):
        if not 0 < method.threshold_percent <= 100:
            raise MethodError(f"method {method.id}: threshold_percent must be in (0, 100]")
        if not 0 < method.interval_s <= method.duration_s:
            raise MethodError(f"method {method.id}: need 0 < interval_s <= duration_s")
        start, end = method.read_window_s
        if start < 0 or end > method.duration_s:
            raise MethodError(f"method {method.id}: read_window_s must lie within the run")
    elif isinstance(method, StripMethod) and method.t_c_cutoff <= 0:
        raise MethodError(f"method {method.id}: t_c_cutoff must be positive")


class MethodBook:
    """The methods a kiosk offers, by id."""

    def __init__(self, methods: Iterable[EnzymeMethod | StripMethod]) -> None:
        self.methods: dict[str, EnzymeMethod | StripMethod] = {}
        for method in methods:
            if method.id in self.methods:
                raise MethodError(f"method {method.id} is defined twice")
            self.methods[method.id] = method

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        input_classes: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> MethodBook:
        """Read methods.toml; with the catalogue's codes, refuse unknown classes/categories."""
        path = path or DATA_DIR / METHODS_FILE
        try:
            doc = tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise MethodError(f"{path}: {error}") from None
        book = cls(method_from_dict(entry) for entry in doc.get("method", []))
        known_inputs = set(input_classes) if input_classes is not None else None
        known_categories = set(categories) if categories is not None else None
        for method in book.methods.values():
            if known_inputs is not None and set(method.covers) - known_inputs:
                bad = sorted(set(method.covers) - known_inputs)
                raise MethodError(f"method {method.id}: covers unknown input classes {bad}")
            if known_categories is not None and set(method.matrices) - known_categories:
                bad = sorted(set(method.matrices) - known_categories)
                raise MethodError(f"method {method.id}: unknown matrices {bad}")
        return book

    def get(self, method_id: str) -> EnzymeMethod | StripMethod:
        try:
            return self.methods[method_id]
        except KeyError:
            known = ", ".join(self.methods)
            raise MethodError(f"unknown method {method_id!r}; known: {known}") from None
