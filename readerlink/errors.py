"""Typed errors of the reader link, so callers can tell a flaky wire from a bad device."""

from __future__ import annotations


class LinkError(Exception):
    """Base class of every reader-link failure."""


class FrameError(LinkError):
    """A frame could not be built (payload too long, field out of range)."""


class PayloadError(LinkError):
    """A message payload did not match its documented layout."""


class LinkTimeoutError(LinkError):
    """A request got no reply in time (the line is too noisy, stalled or gone)."""


class DeviceDisconnectedError(LinkError):
    """The serial device went away (unplugged); the host reconnects on its own."""


class DeviceResetError(LinkError):
    """The device rebooted (new boot id) while a request or a run was in flight."""


class ProtocolVersionError(LinkError):
    """The device speaks a protocol version this host does not."""


class LinkClosedError(LinkError):
    """The link was closed by this process."""


class DeviceError(LinkError):
    """The device refused or failed a request and said why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"device error {code}: {message}")
        self.code = code
        self.message = message


class IntegrityError(LinkError):
    """A run's end-to-end digest or sample count did not match what was received."""
