"""The counter floors file: the highest certificate seq and event seq ever handed out,
written in place with one fsync per transaction.

Why in place: the former two files (``certificate-counter.floor``, ``event-seq.floor``)
were each replaced by rename, which costs a file fsync and a directory fsync: about six
fsyncs per issued certificate, several ms each on a Raspberry Pi's SD card, and wear.

Layout: two fixed slots, at offset 0 and at ``SLOT_STRIDE`` (separate 4 KiB pages, so a
write torn by a power cut cannot damage the other slot's sector). A slot holds a magic,
a format version, a generation, both floors and a CRC-32C of those bytes. A write goes
to the slot *not* holding the newest generation, with generation + 1, then one
``fdatasync`` (the size never changes, so no metadata needs flushing). Reading takes the
valid slot with the highest generation: a torn newest slot leaves the previous one,
whose values are at or above everything committed before the torn write began (the
write happens before its transaction's commit, so a torn write's transaction never
committed). Both slots bad: logged as an error and read as 0, the database counters
then guard alone (what an unreadable floor file always meant).

The file is created once (atomic write: file fsync, rename, directory fsync), 0600. On
creation and on ``migrate()``, floors found in the former files are folded in (maximum)
and those files are removed, so one file is the only floor a kiosk reads.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

from wire.files import PRIVATE, atomic_write, fsync_dir

log = logging.getLogger(__name__)

#: Beside the database: both counter floors.
FLOOR_FILE = "counter-floors.bin"
#: The floor files of earlier versions (one value in ASCII each), folded in and removed.
LEGACY_CERTIFICATE_FILE = "certificate-counter.floor"
LEGACY_EVENT_FILE = "event-seq.floor"
#: Slot B starts on its own page.
SLOT_STRIDE = 4096
MAGIC = b"AQFL"
VERSION = 1
#: magic, version, reserved, generation, certificate seq, event seq.
_BODY = struct.Struct("<4sHHQQQ")
_CRC = struct.Struct("<I")
SLOT_SIZE = _BODY.size + _CRC.size


@dataclass(frozen=True)
class Floors:
    """Both floors as read; ``generation`` 0 means no valid slot (or no file yet)."""

    certificate: int = 0
    event: int = 0
    generation: int = 0


def encode_slot(floors: Floors) -> bytes:
    body = _BODY.pack(MAGIC, VERSION, 0, floors.generation, floors.certificate, floors.event)
    return body + _CRC.pack(crc32c(body))


def decode_slot(raw: bytes) -> Floors | None:
    """The slot's floors, or None when it is torn, garbled or not a slot at all."""
    if len(raw) < SLOT_SIZE:
        return None
    body, (crc,) = raw[: _BODY.size], _CRC.unpack_from(raw, _BODY.size)
    if crc32c(body) != crc:
        return None
    magic, version, _reserved, generation, certificate, event = _BODY.unpack(body)
    if magic != MAGIC or version != VERSION:
        return None
    return Floors(certificate, event, generation)


def _sync(fd: int) -> None:
    """The one durable flush of a floor write (a seam the tests count)."""
    os.fdatasync(fd)


def read_legacy_file(path: Path) -> int:
    """A former one-value floor file; 0 when missing or unreadable (logged)."""
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError) as error:
        log.error("floor file %s is unreadable (%s); ignoring it", path, error)
        return 0
    try:
        return int(text)
    except ValueError:
        log.error("floor file %s is unreadable (%r); ignoring it", path, text)
        return 0


class FloorFile:
    """The floors file at ``path``; the former files are looked for beside it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.legacy_paths = (
            self.path.with_name(LEGACY_CERTIFICATE_FILE),
            self.path.with_name(LEGACY_EVENT_FILE),
        )

    def read(self) -> Floors:
        """The newest valid slot; before the file exists, the former files' floors."""
        try:
            return self._read_file()
        except FileNotFoundError:
            return self._legacy()

    def raise_to(self, certificate: int = 0, event: int = 0) -> Floors:
        """Make the floors at least these values, durably; never lowers either one.

        Call under the database's write lock (a before-commit hook) or with the kiosk
        stopped: the slot chosen depends on what is read here."""
        try:
            current = self._read_file()
        except FileNotFoundError:
            return self._create(certificate, event)
        wanted = Floors(
            max(current.certificate, certificate),
            max(current.event, event),
            current.generation + 1,
        )
        if current.generation and (wanted.certificate, wanted.event) == (
            current.certificate,
            current.event,
        ):
            return current
        self._write_slot(wanted)
        return wanted

    def legacy_present(self) -> bool:
        return any(p.exists() for p in self.legacy_paths)

    def migrate(self) -> Floors:
        """Fold the former floor files in (maximum with this file) and remove them.

        Run at start, under the write lock; a kiosk downgraded and upgraded again keeps
        whatever floors the older software wrote meanwhile."""
        if not self.legacy_present():
            return self.read()
        legacy = self._legacy()
        floors = self.raise_to(legacy.certificate, legacy.event)
        self._remove_legacy()
        return floors

    def _read_file(self) -> Floors:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            raw = os.pread(fd, SLOT_STRIDE + SLOT_SIZE, 0)
        finally:
            os.close(fd)
        slots = [decode_slot(raw[:SLOT_SIZE]), decode_slot(raw[SLOT_STRIDE:])]
        valid = [s for s in slots if s is not None]
        if not valid:
            log.error(
                "floor file %s has no valid slot; relying on the database counters", self.path
            )
            return Floors()
        if len(valid) == 1:
            log.warning("floor file %s: slot %s is torn or corrupt, using the other",
                        self.path, "AB"[slots.index(None)])  # fmt: skip
        return max(valid, key=lambda s: s.generation)

    def _write_slot(self, floors: Floors) -> None:
        record = encode_slot(floors)
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            offset = (floors.generation % 2) * SLOT_STRIDE
            if os.pwrite(fd, record, offset) != len(record):
                raise OSError(f"short write to {self.path}")
            _sync(fd)
        finally:
            os.close(fd)

    def _create(self, certificate: int, event: int) -> Floors:
        legacy = self._legacy()
        certificate, event = max(certificate, legacy.certificate), max(event, legacy.event)
        first, second = Floors(certificate, event, 1), Floors(certificate, event, 2)
        slot_a = encode_slot(second)  # generation 2 lives in slot A (2 % 2 == 0)
        slot_b = encode_slot(first)
        data = slot_a.ljust(SLOT_STRIDE, b"\0") + slot_b
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, data, mode=PRIVATE)
        self._remove_legacy()
        log.info("floor file %s created (certificate %d, event %d)", self.path,
                 certificate, event)  # fmt: skip
        return second

    def _legacy(self) -> Floors:
        cert_path, event_path = self.legacy_paths
        return Floors(read_legacy_file(cert_path), read_legacy_file(event_path), 0)

    def _remove_legacy(self) -> None:
        removed = False
        for path in self.legacy_paths:
            try:
                path.unlink()
                removed = True
            except FileNotFoundError:
                pass
        if removed:
            fsync_dir(self.path.parent)
