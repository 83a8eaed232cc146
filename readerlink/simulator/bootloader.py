"""Two-slot bootloader of the simulated MCU: staged writes, verify, trial boot, rollback.

An update is written to the slot not running. FW_COMMIT verifies size, SHA-256 and the
Ed25519 signature, then marks that slot *pending*. The next boot runs it on *trial*;
a HELLO from the host confirms it. Any reboot while still on trial rolls back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from readerlink.firmware_image import image_boots, verify_manifest
from readerlink.messages import BootReason, FwBegin, Status


@dataclass
class Slot:
    version: str
    image: bytes | None  # None for the factory image, which always boots

    @property
    def boots(self) -> bool:
        return self.image is None or image_boots(self.image)


class Bootloader:
    """Flash state that survives resets and unplugs (it is the MCU's flash)."""

    def __init__(self, factory_version: str, trusted_key: bytes | None) -> None:
        self.slots: list[Slot | None] = [Slot(factory_version, None), None]
        self.active = 0
        self.previous = 0
        self.state = "confirmed"  # or "pending" (committed, not booted) or "trial"
        self.trusted_key = trusted_key
        self._manifest: FwBegin | None = None
        self._buffer = bytearray()
        self._error: Status | None = None

    @property
    def running(self) -> Slot:
        slot = self.slots[self.active]
        assert slot is not None
        return slot

    @property
    def updating(self) -> bool:
        return self._manifest is not None

    @property
    def received(self) -> int:
        return len(self._buffer)

    def boot(self) -> BootReason | None:
        """Pick the slot to run at a reboot; returns a reason that overrides the caller's."""
        self.abandon()
        if self.state == "pending":
            self.state = "trial"
            return BootReason.UPDATE
        if self.state == "trial":
            self.active, self.state = self.previous, "confirmed"
            return BootReason.ROLLBACK
        return None

    def confirm(self) -> None:
        """The host completed a handshake with the running image: keep it."""
        if self.state == "trial":
            self.state = "confirmed"

    def begin(self, manifest: FwBegin) -> Status:
        if self.trusted_key is None:
            return Status.FW_NO_TRUSTED_KEY
        if not 0 < manifest.size <= 1024 * 1024:
            return Status.FW_BAD_SIZE
        self._manifest = manifest
        self._buffer = bytearray()
        self._error = None
        self.slots[1 - self.active] = None  # erase the target slot
        return Status.OK

    def write(self, offset: int, data: bytes) -> None:
        if self._manifest is None:
            return
        if offset != len(self._buffer) or offset + len(data) > self._manifest.size:
            self._error = Status.FW_BAD_OFFSET
            return
        self._buffer += data

    def commit(self) -> Status:
        manifest = self._manifest
        if manifest is None:
            return Status.FW_NOT_IN_UPDATE
        image = bytes(self._buffer)
        self.abandon()
        if self._error is not None:
            return self._error
        if len(image) != manifest.size:
            return Status.FW_BAD_SIZE
        if hashlib.sha256(image).digest() != manifest.sha256:
            return Status.FW_BAD_HASH
        assert self.trusted_key is not None
        if not verify_manifest(
            manifest.sha256, manifest.size, manifest.version, manifest.signature, self.trusted_key
        ):
            return Status.FW_BAD_SIGNATURE
        target = 1 - self.active
        self.slots[target] = Slot(manifest.version, image)
        self.previous, self.active, self.state = self.active, target, "pending"
        return Status.OK

    def abandon(self) -> None:
        """Drop a half-done update (reset or power loss): the target slot stays invalid."""
        self._manifest = None
        self._buffer = bytearray()
