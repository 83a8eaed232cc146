"""Backups of the kiosk database and its certificate-counter floor, and their restore.

A backup is one ``.tar.gz`` holding a consistent copy of the database (made
online with SQLite's backup API, so the kiosk keeps issuing meanwhile), the
counter floor file and a manifest with SHA-256 sums. The floor is read *after*
the database snapshot: the floor file is written before each certificate
commits, so a floor read later is never below the snapshot's counter.

Restore never moves the floor backwards: the floor after a restore is the
largest of the current floor, the current database's counter and the backup's
floor, so a restored older database continues numbering above every number
ever issued (see ``kiosk.infra.numbering``). The replaced database is kept aside,
never deleted.

The signing key is deliberately not backed up: a USB stick must never carry a
kiosk's private key. A replacement kiosk is enrolled with a new key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kiosk.config import KioskConfig
from kiosk.infra.numbering import COUNTER
from kiosk.infra.store import migrations
from wire.files import PRIVATE, atomic_write, commit_file, fsync_dir

log = logging.getLogger(__name__)

DATABASE_FILE = "kiosk.db"
FLOOR_FILE = "certificate-counter.floor"
MANIFEST_FILE = "manifest.json"
BACKUP_FORMAT = 1
BACKUP_PREFIX = "agriqs-backup-"
BACKUP_SUFFIX = ".tar.gz"
#: Local copies kept: a week of nightly backups, about 7× the database on the SD card.
KEEP_LOCAL = 7
#: Copies kept on a USB stick: sticks are larger and are the copy that survives the card.
KEEP_USB = 30
#: Where desktop-style automounters put removable media.
USB_MOUNT_ROOTS = (Path("/media"), Path("/run/media"))
#: How long the backup waits for the kiosk's write lock before giving up.
BUSY_TIMEOUT_S = 30.0
#: A backup may not push free space below this factor of its own size plus the
#: kiosk's min-free margin: a backup that fills the disk would stop issuance.
SIZE_SAFETY_FACTOR = 2


class BackupError(RuntimeError):
    """A backup cannot be made, read or restored; the message says why."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: datetime
    device: str
    counter: int
    floor: int
    schema_version: int


@dataclass
class BackupRun:
    """What one scheduled run did (for logs and the CLI)."""

    local: Path | None = None
    usb: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_floor(path: Path) -> int:
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return 0
    try:
        return int(text)
    except ValueError:
        log.error("floor file %s is unreadable (%r); counting it as 0", path, text)
        return 0


def _db_counter(path: Path) -> int:
    """The certificate counter stored in a database file; 0 when absent or unreadable."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            row = conn.execute("SELECT value FROM counters WHERE name = ?", [COUNTER]).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        log.error("cannot read the counter from %s: %s", path, error)
        return 0
    return int(row[0]) if row else 0


def snapshot_database(source: Path, target: Path) -> None:
    """Copy a live WAL database consistently into a self-contained file (no -wal needed)."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)
    dst = sqlite3.connect(target)
    try:
        # One step (pages=-1) copies a single read snapshot; in WAL mode a reader
        # never blocks the kiosk's writers, so issuance continues meanwhile.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = [r[0] for r in dst.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the snapshot of {source} fails its integrity check: {problems[:3]}")
    except sqlite3.Error as error:
        raise BackupError(f"cannot snapshot {source}: {error}") from None
    finally:
        dst.close()
        src.close()


def create_backup(
    data_dir: Path,
    dest_dir: Path,
    *,
    device: str = "",
    min_free_bytes: int = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Path:
    """Write one backup file into ``dest_dir`` atomically; returns its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / DATABASE_FILE
    if not database.exists():
        raise BackupError(f"no database at {database}")
    needed = database.stat().st_size * SIZE_SAFETY_FACTOR + min_free_bytes
    free = shutil.disk_usage(dest_dir).free
    if free < needed:
        raise BackupError(
            f"not enough space in {dest_dir} for a backup: {free // 2**20} MiB free, "
            f"{needed // 2**20} MiB needed"
        )
    now = clock().astimezone(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{BACKUP_PREFIX}{device + '-' if device else ''}{stamp}{BACKUP_SUFFIX}"
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".backup-") as tmp:
        work = Path(tmp)
        snapshot_database(database, work / DATABASE_FILE)
        floor = _read_floor(data_dir / FLOOR_FILE)  # after the snapshot: never below it
        counter = _db_counter(work / DATABASE_FILE)
        (work / FLOOR_FILE).write_text(f"{max(floor, counter)}\n", "ascii")
        conn = sqlite3.connect(work / DATABASE_FILE)
        schema = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.close()
        manifest = {
            "format": BACKUP_FORMAT,
            "created_at": now.isoformat(),
            "device": device,
            "counter": counter,
            "floor": max(floor, counter),
            "schema_version": schema,
            "files": {n: _sha256(work / n) for n in (DATABASE_FILE, FLOOR_FILE)},
        }
        (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")
        partial = dest_dir / f".{name}.partial"
        with tarfile.open(partial, "w:gz") as tar:
            for member in (MANIFEST_FILE, DATABASE_FILE, FLOOR_FILE):
                tar.add(work / member, arcname=member)
        final = dest_dir / name
        commit_file(partial, final)
    log.info("backup written: %s (counter %d)", final, counter)
    return final


def _extract(backup: Path, into: Path) -> dict:
    """Unpack and check a backup; returns its manifest. Only our three plain files pass."""
    try:
        with tarfile.open(backup, "r:gz") as tar:
            members = tar.getmembers()
            names = sorted(m.name for m in members)
            if names != sorted((MANIFEST_FILE, DATABASE_FILE, FLOOR_FILE)):
                raise BackupError(f"{backup} is not a kiosk backup (members: {names[:5]})")
            for member in members:
                if not member.isfile():
                    raise BackupError(f"{backup}: {member.name} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None
                with source, open(into / member.name, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(f"cannot read backup {backup}: {error}") from None
    try:
        manifest = json.loads((into / MANIFEST_FILE).read_text("utf-8"))
    except ValueError as error:
        raise BackupError(f"{backup}: manifest is not JSON: {error}") from None
    if manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{backup}: unknown backup format {manifest.get('format')!r}")
    for name, digest in manifest.get("files", {}).items():
        if _sha256(into / name) != digest:
            raise BackupError(f"{backup}: {name} does not match its checksum (damaged copy?)")
    conn = sqlite3.connect(into / DATABASE_FILE)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    finally:
        conn.close()
    if problems != ["ok"]:
        raise BackupError(f"{backup}: database fails its integrity check: {problems[:3]}")
    return manifest


def inspect_backup(backup: Path) -> BackupInfo:
    """Verify a backup fully (checksums, SQLite integrity) and describe it."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _extract(backup, Path(tmp))
    return BackupInfo(
        path=backup,
        created_at=datetime.fromisoformat(manifest["created_at"]),
        device=manifest.get("device", ""),
        counter=int(manifest["counter"]),
        floor=int(manifest["floor"]),
        schema_version=int(manifest["schema_version"]),
    )


def list_backups(directory: Path) -> list[Path]:
    """Backup files in ``directory``, oldest first (names sort by time)."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.name.startswith(BACKUP_PREFIX) and p.name.endswith(BACKUP_SUFFIX) and p.is_file()
    ]
    return sorted(found, key=lambda p: p.name.split("-")[-1])


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was removed."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    backups = list_backups(directory)
    removed = backups[:-keep]
    for path in removed:
        path.unlink()
        log.info("old backup removed: %s", path)
    return removed


def usb_targets(
    configured: Path | None = None,
    roots: Sequence[Path] = USB_MOUNT_ROOTS,
    is_mount: Callable[[Path], bool] = os.path.ismount,
) -> list[Path]:
    """Writable mounted removable media: the configured path, or mounts below ``roots``.

    Only real mount points count: an empty ``/media/x`` directory lies on the SD
    card itself, and writing there would fill the card, not a stick.
    """
    candidates: list[Path] = []
    if configured is not None:
        candidates.append(configured)
    else:
        for root in roots:
            if not root.is_dir():
                continue
            for entry in sorted(root.iterdir()):
                # /media/<label> (udisks without users) or /media/<user>/<label>
                candidates.append(entry)
                if entry.is_dir() and not is_mount(entry):
                    candidates.extend(sorted(p for p in entry.iterdir() if p.is_dir()))
    found = []
    for path in candidates:
        if path.is_dir() and is_mount(path) and os.access(path, os.W_OK):
            found.append(path)
    return found


def run_backup(
    data_dir: Path,
    local_dir: Path,
    *,
    device: str = "",
    min_free_bytes: int = 0,
    usb: Iterable[Path] | None = None,
    keep_local: int = KEEP_LOCAL,
    keep_usb: int = KEEP_USB,
) -> BackupRun:
    """The scheduled job: a local backup, rotated, copied to every mounted stick."""
    run = BackupRun()
    run.local = create_backup(data_dir, local_dir, device=device, min_free_bytes=min_free_bytes)
    run.removed += rotate(local_dir, keep_local)
    for mount in usb_targets() if usb is None else usb:
        target_dir = mount / "agriqs-backups" / (device or "kiosk")
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            partial = target_dir / f".{run.local.name}.partial"
            shutil.copyfile(run.local, partial)
            final = target_dir / run.local.name
            commit_file(partial, final)
            run.usb.append(final)
            run.removed += rotate(target_dir, keep_usb)
        except OSError as error:
            message = f"copy to {mount} failed: {error}"
            log.error(message)
            run.errors.append(message)
    return run


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    set_aside: Path | None
    floor: int
    backup_counter: int


def restore_backup(
    backup: Path, data_dir: Path, *, clock: Callable[[], datetime] | None = None
) -> RestoreResult:
    """Replace the database with a backup's. Stop the kiosk services first.

    The current database (with its -wal/-shm) moves to ``pre-restore-<time>/``;
    the floor becomes the maximum of everything known, never lower than before.
    """
    clock = clock or (lambda: datetime.now(UTC))
    database = data_dir / DATABASE_FILE
    floor_path = data_dir / FLOOR_FILE
    _refuse_if_in_use(database)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as tmp:
        work = Path(tmp)
        manifest = _extract(backup, work)
        known = len(migrations())
        if int(manifest["schema_version"]) > known:
            raise BackupError(
                f"{backup} has schema version {manifest['schema_version']}, newer than this "
                f"software ({known}); update the kiosk software before restoring it"
            )
        floor = max(
            _read_floor(floor_path),
            _db_counter(database),
            _read_floor(work / FLOOR_FILE),
            int(manifest["counter"]),
        )
        aside = None
        if database.exists():
            aside = data_dir / f"pre-restore-{clock().astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
            aside.mkdir()
            for suffix in ("", "-wal", "-shm"):
                part = data_dir / (DATABASE_FILE + suffix)
                if part.exists():
                    os.replace(part, aside / part.name)
        # The floor goes down first: were we to stop between the two renames, the
        # next start would still number above it.
        atomic_write(floor_path, f"{floor}\n".encode("ascii"), mode=PRIVATE)
        os.replace(work / DATABASE_FILE, database)
        fsync_dir(data_dir)
    log.warning(
        "database restored from %s (its counter %d, floor kept at %d); previous database in %s",
        backup,
        int(manifest["counter"]),
        floor,
        aside,
    )
    return RestoreResult(backup, aside, floor, int(manifest["counter"]))


def _open_by(paths: Iterable[Path]) -> list[int]:
    """Pids of processes holding any of ``paths`` open (those /proc lets us see)."""
    wanted = {str(p.resolve()) for p in paths}
    holders = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    holders.append(int(entry.name))
                    break
        except OSError:
            continue  # gone, or another user's process while we are not root
    return holders


def _refuse_if_in_use(database: Path) -> None:
    """Refuse while a process has the database open: the kiosk services must be stopped."""
    parts = [database.with_name(database.name + s) for s in ("", "-wal", "-shm")]
    holders = _open_by(p for p in parts if p.exists())
    if holders:
        raise BackupError(
            f"{database} is open in process(es) {holders}; "
            "stop agriqs-kiosk.service and agriqs-agent.service first"
        )


def describe(info: BackupInfo) -> str:
    """One line for listings."""
    return (
        f"{info.path.name}  {info.created_at:%Y-%m-%d %H:%M:%S %Z}  "
        f"counter {info.counter}  floor {info.floor}  schema {info.schema_version}"
    )


#: Local backups live beside the database, under the data directory.
LOCAL_DIR_NAME = "backups"


def local_dir(config: KioskConfig) -> Path:
    return config.paths.data_dir / LOCAL_DIR_NAME


def backup_now(config: KioskConfig, usb: Iterable[Path] | None = None) -> BackupRun:
    """The nightly job for a configured kiosk (``kiosk backup now``)."""
    return run_backup(
        config.paths.data_dir,
        local_dir(config),
        device=config.device.device_id,
        min_free_bytes=config.paths.min_free_mb * 1024 * 1024,
        usb=usb,
    )
