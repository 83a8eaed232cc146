"""The ``Scale`` seam: a platform scale streaming weights over serial."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Weight:
    kilograms: Decimal
    stable: bool


class Scale(ABC):
    """One platform scale; ``close()`` is idempotent. Lines that are not readings are
    dropped (and counted, and logged now and then), never turned into a weight."""

    @abstractmethod
    def latest(self) -> Weight | None:
        """The most recent reading, or None when the scale has said nothing recently
        or reports an overload. Never raises, even for an unplugged or closed scale."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Scale:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
