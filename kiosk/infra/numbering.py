"""Certificate numbers and event ids: never reused, also after a crash or the restore of
an old backup.

The number comes from a per-device counter advanced in the certificate's own
transaction. A floor file beside the database is written (and fsynced) with
the new value *before* that transaction commits, so the file is never behind
the database. A database restored from an older backup then has a counter
below the floor: the next number starts above the floor, and the restore is
reported. A crash between the floor write and the commit costs one unused
number, never a reused one.

Event ids (``{device}:{seq}``) get the same kind of floor (``EVENT_FLOOR_FILE``,
written by the outbox once per transaction, before its commit): after a restore the
next event continues above every id already sent, so the county never receives one id
with two bodies (it would quarantine the second as a conflict).
"""

from __future__ import annotations

import logging
from pathlib import Path

from kiosk.infra.store import Store
from wire.files import PRIVATE, atomic_write

log = logging.getLogger(__name__)

COUNTER = "certificate_seq"
EVENT_COUNTER = "event_seq"
#: Beside the database: the highest event seq ever handed out.
EVENT_FLOOR_FILE = "event-seq.floor"


def read_floor_file(path: Path, what: str = "counter") -> int:
    """The value in a floor file; 0 when missing or unreadable (logged)."""
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return 0
    try:
        return int(text)
    except ValueError:
        # A torn or edited floor file must not stop the kiosk; the database counter
        # still guards against reuse within this database.
        log.error("%s floor file %s is unreadable (%r); ignoring it", what, path, text)
        return 0


def write_floor_file(path: Path, value: int) -> None:
    """Durably (fsync, rename, directory fsync), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, f"{value}\n".encode("ascii"), mode=PRIVATE)


def format_number(county: str, device_id: str, seq: int) -> str:
    """``330100-K001-0000042``: county code, kiosk id, per-kiosk sequence."""
    return f"{county}-{device_id}-{seq:07d}"


class CertificateNumbers:
    def __init__(self, store: Store, floor_path: Path, county: str, device_id: str) -> None:
        self.store = store
        self.floor_path = floor_path
        self.county = county
        self.device_id = device_id

    def read_floor(self) -> int:
        return read_floor_file(self.floor_path, "certificate")

    def restored_gap(self) -> int:
        """How far the database counter lies below the floor (> 1 means an older backup)."""
        return self.read_floor() - self.store.counter(COUNTER)

    def next(self) -> tuple[int, str]:
        """Reserve the next number; call inside the certificate's transaction."""
        seq = self.store.advance_counter(COUNTER, at_least=self.read_floor())
        self._write_floor(seq)
        return seq, format_number(self.county, self.device_id, seq)

    def _write_floor(self, value: int) -> None:
        write_floor_file(self.floor_path, value)
