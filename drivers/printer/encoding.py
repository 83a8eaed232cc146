"""What an encoder hands the printer: the bytes of one label, first and repeated copies."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from drivers.printer.document import LabelDocument


@dataclass(frozen=True)
class EncodedLabel:
    """``first`` prints one copy from scratch; ``repeat`` prints one more of the same.

    TSPL keeps the drawn image buffer after PRINT, so a repeat is just ``PRINT 1``;
    ESC/POS has no such buffer and repeats everything.
    """

    first: bytes
    repeat: bytes


class LabelEncoder(ABC):
    @abstractmethod
    def encode(self, document: LabelDocument) -> EncodedLabel: ...
