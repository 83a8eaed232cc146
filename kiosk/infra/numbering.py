"""Certificate numbers and event ids: never reused, also after a crash or the restore of
an old backup.

The number comes from a per-device counter advanced in the certificate's own
transaction. The floors file beside the database (kiosk/infra/floors.py) is written
(and fsynced) with the new value *before* that transaction commits, so the file is
never behind the database. A database restored from an older backup then has a counter
below the floor: the next number starts above the floor, and the restore is reported.
A crash between the floor write and the commit costs one unused number, never a reused
one.

Event ids (``{device}:{seq}``) get the same kind of floor in the same file: after a
restore the next event continues above every id already sent, so the county never
receives one id with two bodies (it would quarantine the second as a conflict).

Both floors of one transaction go out in one write with one fsync: whoever advances a
counter calls ``floors_before_commit``, which registers a single before-commit hook
per floors file; the hook writes the counters as this transaction is about to commit
them (a savepoint rolled back lowers nothing it would write, a transaction rolled back
writes nothing).
"""

from __future__ import annotations

import logging

from kiosk.infra.floors import FLOOR_FILE, FloorFile
from kiosk.infra.store import Store

log = logging.getLogger(__name__)

COUNTER = "certificate_seq"
EVENT_COUNTER = "event_seq"


def floors_beside(store: Store) -> FloorFile:
    """The floors file of this database (in its directory)."""
    return FloorFile(store.path.with_name(FLOOR_FILE))


def floors_before_commit(store: Store, floors: FloorFile) -> None:
    """Write both counters' floors once, just before the open transaction commits (at
    once when none is open)."""

    def write() -> None:
        floors.raise_to(store.counter(COUNTER), store.counter(EVENT_COUNTER))

    if not store.before_commit(("counter-floors", str(floors.path)), write):
        write()


def format_number(county: str, device_id: str, seq: int) -> str:
    """``330100-K001-0000042``: county code, kiosk id, per-kiosk sequence."""
    return f"{county}-{device_id}-{seq:07d}"


class CertificateNumbers:
    def __init__(self, store: Store, floors: FloorFile, county: str, device_id: str) -> None:
        self.store = store
        self.floors = floors
        self.county = county
        self.device_id = device_id

    def read_floor(self) -> int:
        return self.floors.read().certificate

    def restored_gap(self) -> int:
        """How far the database counter lies below the floor (> 1 means an older backup)."""
        return self.read_floor() - self.store.counter(COUNTER)

    def next(self) -> tuple[int, str]:
        """Reserve the next number; call inside the certificate's transaction."""
        seq = self.store.advance_counter(COUNTER, at_least=self.read_floor())
        floors_before_commit(self.store, self.floors)
        return seq, format_number(self.county, self.device_id, seq)
