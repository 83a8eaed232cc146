"""The transport seam: bytes out, bytes in, nothing about printer languages.

Shaped like python-escpos's connection classes (``_raw`` to write, ``_read`` to read)
but with a bounded read, so a silent printer costs one timeout, not a hang.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class TransportError(OSError):
    """The link to the printer failed; the message says what to check."""


class Transport(ABC):
    #: False for write-only links (a device file): status cannot be asked.
    can_read: bool = True
    description: str = "transport"

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise ``TransportError``."""

    @abstractmethod
    def read(self, size: int, timeout_s: float) -> bytes:
        """Up to ``size`` bytes, returning as soon as any arrive; b"" after ``timeout_s``."""

    @abstractmethod
    def close(self) -> None:
        """Release the link; safe to call twice."""

    def discard_input(self) -> None:
        """Drop stale replies (a late answer to an earlier query) before asking again."""
        if self.can_read:
            while self.read(64, 0.0):
                pass

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
