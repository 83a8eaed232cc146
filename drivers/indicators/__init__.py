"""The ``Indicators`` seam: status light, buzzer, help button, door and paper sensors."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable


class LightState(enum.StrEnum):
    READY = "ready"  # steady green
    BUSY = "busy"  # blinking amber
    FAULT = "fault"  # red
    OFF = "off"


class BuzzerPattern(enum.StrEnum):
    KEY = "key"  # a short click for a touch
    OK = "ok"  # two short beeps: done
    ATTENTION = "attention"  # take your labels
    ERROR = "error"  # long beep


class Indicators(ABC):
    """GPIO-attached parts of the cabinet.

    Inputs are debounced; callbacks run on a background thread, one listener per
    input (registering again replaces it), and one that raises is logged. ``close()``
    is idempotent and releases the pins; light and buzzer calls after it are ignored.
    """

    @abstractmethod
    def set_light(self, state: LightState) -> None: ...

    @abstractmethod
    def beep(self, pattern: BuzzerPattern) -> None: ...

    @abstractmethod
    def on_help_pressed(self, callback: Callable[[], None]) -> None: ...

    @abstractmethod
    def on_door_changed(self, callback: Callable[[bool], None]) -> None:
        """``callback(True)`` when the cabinet door opens, ``False`` when it closes."""

    @abstractmethod
    def paper_low(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Indicators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
