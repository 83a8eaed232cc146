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

Every backup is signed: ``manifest.sig`` is the device's Ed25519 signature over the
exact bytes of ``manifest.json``, which names the device, its key and the SHA-256 of
every other member (exactly those; a manifest that lists fewer is refused). A restore
checks the signature against this kiosk's own key, so a backup edited on a laptop (a
lifted hold, replaced PIN hashes, dropped audit triggers) or another device's backup is
refused; ``allow_foreign`` (``--from-other-device``) accepts a backup signed by the key
its manifest names, and the county is told. After the swap the audit triggers are
recreated and the chain verified, and what the restore changed (holds, staff accounts
and PIN hashes, counters) is left in ``restore-report.json`` for the next start to send
to the county as alarm ``backup_restored`` (``report_restore``).

USB copies (``portable``) carry no PIN hashes in their database: they are sealed for
the county's recovery key (``[backup] recovery_key``, wire/sealed.py) in
``secrets.sealed``, or left out when no key is configured. Restoring one puts them back
only with the county's private key (``recovery_key``); otherwise PINs must be set again.
"""

from __future__ import annotations

import base64
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
from typing import Any

from kiosk.config import SIGNING_KEY_FILE, KioskConfig
from kiosk.infra.audit import ensure_triggers, verify_chain
from kiosk.infra.floors import FLOOR_FILE as FLOORS_FILE
from kiosk.infra.floors import FloorFile, read_legacy_file
from kiosk.infra.numbering import COUNTER, EVENT_COUNTER
from kiosk.infra.store import migrations
from wire.files import PRIVATE, atomic_write, commit_file, fsync_dir
from wire.sealed import SealError, decode_recovery_key, load_recovery_key, seal, unseal
from wire.signing import KeyFileError, SigningKey, key_id, verify_signature

log = logging.getLogger(__name__)

DATABASE_FILE = "kiosk.db"
#: The certificate floor inside a backup archive (one number in ASCII, as since format 1;
#: the kiosk itself keeps its floors in ``FLOORS_FILE``, kiosk/infra/floors.py).
FLOOR_FILE = "certificate-counter.floor"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
SECRETS_FILE = "secrets.sealed"
REPORT_FILE = "restore-report.json"
BACKUP_FORMAT = 2
#: Columns holding secrets that a USB copy never carries in clear: (table, key, column).
SECRET_COLUMNS = (
    ("staff_accounts", "account_id", "pin_hash"),
    ("producers", "producer_id", "pin_hash"),
)
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


#: The largest county figure a restore takes (a thousand events a second for thirty years
#: is about 10**12): a floor never comes down, so a mistyped larger one would spend the
#: numbering for good (event seqs above 2**53 - 1 fail the county's schema, SQLite
#: counters end at 2**63 - 1) and leave a gap in the county's reports no event fills.
MAX_COUNTY_FLOOR = 10**12


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
    key_id: str = ""
    portable: bool = False


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


def _db_counters(path: Path) -> dict[str, int] | None:
    """The counters stored in a database file; None when it has no readable counters
    table (missing, empty or damaged: it knows no number)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            rows = conn.execute("SELECT name, value FROM counters").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as error:
        log.error("cannot read the counters from %s: %s", path, error)
        return None
    return {str(name): int(value) for name, value in rows}


def _db_counter(path: Path, name: str = COUNTER) -> int:
    """One counter of a database file (the certificate counter unless ``name`` says
    another); 0 when absent or unreadable."""
    return (_db_counters(path) or {}).get(name, 0)


def _check_county_floors(figures: tuple[int, int], backup_db: Path) -> tuple[int, int]:
    """The county's (certificate, event) figures, refused when they cannot be right:
    negative, past ``MAX_COUNTY_FLOOR``, or swapped. Every certificate is also an event,
    so a kiosk's event counter gains at least as much as its certificate counter: once
    the backup's event counter is at or above its certificate counter, the county's
    figures are too. (A kiosk restored before event ids had a floor can be below; its
    backup then is as well, and its figures are taken.)"""
    certificate, event = (int(figure) for figure in figures)
    if min(certificate, event) < 0:
        raise BackupError(f"--county-floors {certificate}:{event}: numbers are not negative")
    if max(certificate, event) > MAX_COUNTY_FLOOR:
        raise BackupError(
            f"--county-floors {certificate}:{event}: too large (at most {MAX_COUNTY_FLOOR}); "
            "a floor is never lowered again, so copy the figures station devices show prints"
        )
    kept = _db_counters(backup_db) or {}
    if event < certificate and kept.get(EVENT_COUNTER, 0) >= kept.get(COUNTER, 0):
        raise BackupError(
            f"--county-floors {certificate}:{event}: the event seq is below the certificate "
            "seq, which this kiosk's never is: swapped? The order is CERTIFICATE:EVENT, as "
            "station devices show prints it"
        )
    return certificate, event


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


def device_key(data_dir: Path) -> SigningKey:
    """The kiosk's own signing key, which signs and checks its backups."""
    path = data_dir / "keys" / SIGNING_KEY_FILE
    try:
        return SigningKey.load(path)
    except FileNotFoundError:
        raise BackupError(f"no device key at {path}: start the kiosk once first") from None
    except KeyFileError as error:
        raise BackupError(str(error)) from None


def create_backup(
    data_dir: Path,
    dest_dir: Path,
    *,
    device: str = "",
    min_free_bytes: int = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    portable: bool = False,
    recovery_key: bytes | None = None,
) -> Path:
    """Write one signed backup file into ``dest_dir`` atomically (mode 0600); returns its
    path. ``portable`` (a USB copy) takes the PIN hashes out of the database and seals
    them for ``recovery_key`` (left out entirely without one)."""
    signer = device_key(data_dir)
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
        # After the snapshot: never below it.
        floor = FloorFile(data_dir / FLOORS_FILE).read().certificate
        counter = _db_counter(work / DATABASE_FILE)
        (work / FLOOR_FILE).write_text(f"{max(floor, counter)}\n", "ascii")
        members = [DATABASE_FILE, FLOOR_FILE]
        sealed_for = None
        if portable:
            secrets = _strip_secrets(work / DATABASE_FILE)
            if recovery_key is not None:
                sealed = seal(recovery_key, secrets)
                (work / SECRETS_FILE).write_text(json.dumps(sealed), "utf-8")
                members.append(SECRETS_FILE)
                sealed_for = key_id(recovery_key)
            else:
                log.warning("no recovery key configured: the USB copy carries no PIN hashes")
        conn = sqlite3.connect(work / DATABASE_FILE)
        schema = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.close()
        manifest = {
            "format": BACKUP_FORMAT,
            "created_at": now.isoformat(),
            "device": device,
            "key_id": signer.key_id,
            "public_key": signer.public_b64,
            "counter": counter,
            "floor": max(floor, counter),
            "schema_version": schema,
            "portable": portable,
            "sealed_for": sealed_for,
            "files": {n: _sha256(work / n) for n in members},
        }
        manifest_bytes = json.dumps(manifest, indent=2).encode("utf-8")
        (work / MANIFEST_FILE).write_bytes(manifest_bytes)
        (work / SIGNATURE_FILE).write_bytes(signer.sign(manifest_bytes))
        partial = dest_dir / f".{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE)
        os.fchmod(fd, PRIVATE)  # whatever the umask: the database holds personal data
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for member in (MANIFEST_FILE, SIGNATURE_FILE, *members):
                tar.add(work / member, arcname=member)
        final = dest_dir / name
        commit_file(partial, final)
    log.info("backup written: %s (counter %d)", final, counter)
    return final


def _extract(backup: Path, into: Path) -> dict:
    """Unpack and check a backup's members and checksums; returns its manifest (the
    signature is checked by ``_check_signature``). Only our plain files pass."""
    allowed = {MANIFEST_FILE, SIGNATURE_FILE, DATABASE_FILE, FLOOR_FILE, SECRETS_FILE}
    try:
        with tarfile.open(backup, "r:gz") as tar:
            members = tar.getmembers()
            names = sorted(m.name for m in members)
            required = {MANIFEST_FILE, SIGNATURE_FILE, DATABASE_FILE, FLOOR_FILE}
            if not required <= set(names) <= allowed or len(set(names)) != len(names):
                raise BackupError(
                    f"{backup} is not a signed kiosk backup (members: {names[:6]}); "
                    "a backup made before signing cannot be restored, make a new one"
                )
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
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{backup}: unknown backup format {manifest.get('format')!r}")
    files = manifest.get("files")
    covered = set(names) - {MANIFEST_FILE, SIGNATURE_FILE}
    if not isinstance(files, dict) or set(files) != covered:
        raise BackupError(f"{backup}: the manifest must list exactly {sorted(covered)}")
    for name, digest in files.items():
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
    """Verify a backup fully (signature by the key it names, checksums, SQLite
    integrity) and describe it; whether that key is this kiosk's is checked on restore."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _extract(backup, Path(tmp))
        _check_signature(backup, Path(tmp), manifest, None, allow_foreign=True)
    return BackupInfo(
        path=backup,
        created_at=datetime.fromisoformat(manifest["created_at"]),
        device=manifest.get("device", ""),
        counter=int(manifest["counter"]),
        floor=int(manifest["floor"]),
        schema_version=int(manifest["schema_version"]),
        key_id=str(manifest.get("key_id", "")),
        portable=bool(manifest.get("portable")),
    )


def _check_signature(
    backup: Path, work: Path, manifest: dict, own: SigningKey | None, allow_foreign: bool
) -> bool:
    """True when this kiosk signed the backup; True-but-foreign is returned as False
    only with ``allow_foreign`` (signed by the key its manifest names); refused otherwise."""
    message = (work / MANIFEST_FILE).read_bytes()
    signature = (work / SIGNATURE_FILE).read_bytes()
    if own is not None and verify_signature(own.public_bytes, message, signature):
        return True
    named = str(manifest.get("key_id", "?"))
    if not allow_foreign:
        raise BackupError(
            f"{backup} is not signed by this kiosk's key (its manifest names key {named}): "
            "refused; a backup from another device needs --from-other-device"
        )
    try:
        public = base64.b64decode(str(manifest.get("public_key", "")), validate=True)
    except ValueError:
        public = b""
    if key_id(public) != named or not verify_signature(public, message, signature):
        raise BackupError(f"{backup}: its signature does not verify with the key it names")
    if own is not None:
        log.warning("restoring a backup signed by another device's key %s", named)
    return False


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
    recovery_key: bytes | None = None,
) -> BackupRun:
    """The scheduled job: a local backup, rotated; a portable one (PIN hashes sealed for
    the county's recovery key) copied to every mounted stick."""
    run = BackupRun()
    run.local = create_backup(data_dir, local_dir, device=device, min_free_bytes=min_free_bytes)
    run.removed += rotate(local_dir, keep_local)
    mounts = list(usb_targets() if usb is None else usb)
    if not mounts:
        return run
    with tempfile.TemporaryDirectory(dir=local_dir, prefix=".usb-") as tmp:
        portable = create_backup(
            data_dir, Path(tmp), device=device, portable=True, recovery_key=recovery_key
        )
        for mount in mounts:
            target_dir = mount / "agriqs-backups" / (device or "kiosk")
            try:
                target_dir.mkdir(parents=True, exist_ok=True)
                partial = target_dir / f".{portable.name}.partial"
                shutil.copyfile(portable, partial)
                os.chmod(partial, PRIVATE)
                final = target_dir / portable.name
                commit_file(partial, final)
                run.usb.append(final)
                run.removed += rotate(target_dir, keep_usb)
            except OSError as error:
                message = f"copy to {mount} failed: {error}"
                log.error(message)
                run.errors.append(message)
    return run


def _strip_secrets(database: Path) -> dict[str, dict[str, str]]:
    """Take every PIN hash out of a snapshot (and VACUUM, so no freed page keeps one);
    returns them by table and row key for sealing."""
    out: dict[str, dict[str, str]] = {}
    conn = sqlite3.connect(database)
    try:
        for table, key, column in SECRET_COLUMNS:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
            ).fetchone():
                continue
            rows = conn.execute(
                f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} != ''"
            ).fetchall()
            out[table] = {str(k): v for k, v in rows}
            blank = "''" if table == "staff_accounts" else "NULL"  # NOT NULL there
            with conn:
                conn.execute(f"UPDATE {table} SET {column} = {blank}")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return out


def _put_back_secrets(database: Path, secrets: dict[str, dict[str, str]]) -> int:
    """Restore sealed PIN hashes into a portable backup's database; returns how many."""
    count = 0
    conn = sqlite3.connect(database)
    try:
        with conn:
            for table, key, column in SECRET_COLUMNS:
                for row_key, value in (secrets.get(table) or {}).items():
                    if isinstance(value, str) and value.startswith("scrypt$"):
                        count += conn.execute(
                            f"UPDATE {table} SET {column} = ? WHERE CAST({key} AS TEXT) = ?",
                            [value, row_key],
                        ).rowcount
    finally:
        conn.close()
    return count


def _snapshot_facts(database: Path) -> dict[str, dict[str, Any]]:
    """What a restore report compares: open holds, staff accounts and PIN hashes (as
    digests), producers' PIN hashes, counters. Empty parts for a missing database."""
    facts: dict[str, dict[str, Any]] = {"holds": {}, "staff": {}, "producer_pins": {},
                                        "counters": {}}  # fmt: skip
    if not database.exists():
        return facts
    queries = {
        "holds": "SELECT 'kiosk:' || id, producer_key || ' ' || product_code FROM holds "
        "WHERE lifted_at IS NULL",
        "county_holds": "SELECT 'county:' || hold_id, product_code FROM county_holds",
        "staff": "SELECT name, role || ' ' || active || ' ' || pin_hash FROM staff_accounts",
        "producer_pins": "SELECT producer_id, pin_hash FROM producers",
        "counters": "SELECT name, value FROM counters",
    }
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return facts
    try:
        for part, sql in queries.items():
            try:
                rows = conn.execute(sql).fetchall()
            except sqlite3.Error:
                continue  # an older schema, or a damaged file: compare what there is
            target = facts["holds"] if part == "county_holds" else facts[part]
            for k, v in rows:
                target[str(k)] = (
                    hashlib.sha256(str(v).encode()).hexdigest()[:12]
                    if part in ("staff", "producer_pins") else v
                )  # fmt: skip
    finally:
        conn.close()
    return facts


def _changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict:
    """What a restore changed, in short lists the county can read."""

    def diff(part: str) -> tuple[list[str], list[str], list[str]]:
        old, new = before[part], after[part]
        gone = sorted(set(old) - set(new))
        came = sorted(set(new) - set(old))
        changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
        return gone[:20], came[:20], changed[:20]

    holds_lifted, holds_back, _ = diff("holds")
    staff_gone, staff_new, staff_changed = diff("staff")
    pins_gone, pins_new, pins_changed = diff("producer_pins")
    counters = [
        f"{name} {before['counters'].get(name, 0)}->{after['counters'].get(name, 0)}"
        for name in sorted(set(before["counters"]) | set(after["counters"]))
        if before["counters"].get(name, 0) != after["counters"].get(name, 0)
    ][:20]
    return {
        "holds_lifted": holds_lifted, "holds_reinstated": holds_back,
        "staff_removed": staff_gone, "staff_added": staff_new, "staff_changed": staff_changed,
        "producer_pins_changed": len(pins_gone) + len(pins_new) + len(pins_changed),
        "counters": counters,
    }  # fmt: skip


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    set_aside: Path | None
    floor: int
    backup_counter: int


def restore_backup(
    backup: Path,
    data_dir: Path,
    *,
    clock: Callable[[], datetime] | None = None,
    allow_foreign: bool = False,
    recovery_key: Path | None = None,
    county_floors: tuple[int, int] | None = None,
) -> RestoreResult:
    """Replace the database with a backup's. Stop the kiosk services first.

    The backup must be signed by this kiosk's key (or, with ``allow_foreign``, by the
    key its manifest names). The current database (with its -wal/-shm) moves to
    ``pre-restore-<time>/``; the floor becomes the maximum of everything known, never
    lower than before. ``recovery_key`` (the county's private key file) puts back the
    PIN hashes sealed in a USB copy.

    ``county_floors`` (certificate seq, event seq): the highest the county holds from
    this kiosk (``station devices show``). Required unless the backup is signed by this
    kiosk's key and this data directory still holds counters (valid floors or a
    readable database): otherwise the backup alone knows nothing issued after it, and
    the kiosk would hand out those numbers and event ids a second time.
    """
    clock = clock or (lambda: datetime.now(UTC))
    database = data_dir / DATABASE_FILE
    floors = FloorFile(data_dir / FLOORS_FILE)
    _refuse_if_in_use(database)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as tmp:
        work = Path(tmp)
        manifest = _extract(backup, work)
        try:
            own: SigningKey | None = device_key(data_dir)
        except BackupError:
            own = None  # a new card: only a foreign restore is possible
        own_backup = _check_signature(backup, work, manifest, own, allow_foreign)
        restored_pins = _open_secrets(backup, work, manifest, recovery_key)
        conn = sqlite3.connect(work / DATABASE_FILE)
        try:
            triggers = ensure_triggers(conn)
            chain = verify_chain(conn)
        except sqlite3.Error as error:
            raise BackupError(f"{backup}: its audit log cannot be checked: {error}") from None
        finally:
            conn.close()
        if not chain.ok:
            raise BackupError(f"{backup}: its audit chain is broken: {chain.problem}")
        if triggers:
            log.error("backup %s had its audit triggers changed (%s): recreated", backup, triggers)
        known = len(migrations())
        if int(manifest["schema_version"]) > known:
            raise BackupError(
                f"{backup} has schema version {manifest['schema_version']}, newer than this "
                f"software ({known}); update the kiosk software before restoring it"
            )
        if county_floors is not None:
            county_floors = _check_county_floors(county_floors, work / DATABASE_FILE)
        elif not own_backup or not _knows_its_numbers(floors, database, int(manifest["counter"])):
            # Files that merely exist prove nothing: a new card started once has an
            # empty database and floors at zero; a damaged one, files that read as 0.
            why = (
                f"{data_dir} holds no readable counters, or counters behind the backup's "
                "(a new, damaged or re-imaged card)"
                if own_backup
                else f"{backup} is not signed by this kiosk's key (a new card, or another "
                "kiosk's backup), so this card's counters never saw the numbers issued "
                "after it"
            )
            raise BackupError(
                f"{why}: the backup does not know the certificates and events issued after "
                "it was made. Ask the county for this kiosk's highest numbers (station "
                "devices show COUNTY/DEVICE) and pass the line it prints: --county-floors "
                "COUNTY/DEVICE:CERTIFICATE:EVENT"
            )
        county_certificate, county_event = county_floors or (0, 0)
        event_floor = max(county_event, _db_counter(database, EVENT_COUNTER))
        floor = max(
            floors.read().certificate,
            _db_counter(database),
            read_legacy_file(work / FLOOR_FILE),
            int(manifest["counter"]),
            county_certificate,
        )
        report = {
            "backup": backup.name,
            "created_at": manifest.get("created_at"),
            "device": manifest.get("device", ""),
            "key_id": manifest.get("key_id", ""),
            "foreign": not own_backup,
            "portable": bool(manifest.get("portable")),
            "pins_restored": restored_pins,
            "audit_triggers_recreated": triggers,
            "audit_rows": chain.rows,
            **_changes(_snapshot_facts(database), _snapshot_facts(work / DATABASE_FILE)),
        }
        if county_floors is not None:  # the county sees which figures were used
            report["county_certificate_floor"] = county_certificate
            report["county_event_floor"] = county_event
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
        floors.raise_to(certificate=floor, event=event_floor)  # never lowers either
        os.replace(work / DATABASE_FILE, database)
        atomic_write(
            data_dir / REPORT_FILE, json.dumps(report, ensure_ascii=False).encode(), mode=PRIVATE
        )
        fsync_dir(data_dir)
    log.warning(
        "database restored from %s (its counter %d, floor kept at %d); previous database in %s",
        backup,
        int(manifest["counter"]),
        floor,
        aside,
    )
    return RestoreResult(backup, aside, floor, int(manifest["counter"]))


def _knows_its_numbers(floors: FloorFile, database: Path, backup_counter: int) -> bool:
    """Whether this data directory holds counters of its own (a floors file with a
    valid slot, the former floor files, or a database with a counters table) that are
    not behind the backup's: the card that made a backup has never numbered below it
    since, so counters below it are an older card image put back."""
    floor = floors.read()
    if not (floor.generation or floors.legacy_present() or _db_counters(database) is not None):
        return False
    return max(floor.certificate, _db_counter(database)) >= backup_counter


def _open_secrets(backup: Path, work: Path, manifest: dict, recovery_key: Path | None) -> int:
    """For a USB copy: the sealed PIN hashes put back with the county's key (0 without)."""
    if not manifest.get("portable"):
        return 0
    if recovery_key is None or not (work / SECRETS_FILE).exists():
        log.warning("%s carries no PIN hashes: staff PINs must be set again", backup)
        return 0
    try:
        secrets = unseal(
            load_recovery_key(recovery_key), json.loads((work / SECRETS_FILE).read_text())
        )
    except (SealError, ValueError) as error:
        raise BackupError(f"{backup}: {error}") from None
    return _put_back_secrets(work / DATABASE_FILE, secrets)


def pending_restore_report(data_dir: Path) -> dict[str, Any] | None:
    """What the last restore changed, until ``clear_restore_report`` (the composition
    root sends it to the county as alarm ``backup_restored`` at the next start)."""
    try:
        data = json.loads((data_dir / REPORT_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"unreadable_report": str(error)[:200]}
    return data if isinstance(data, dict) else {"unreadable_report": "not an object"}


def clear_restore_report(data_dir: Path) -> None:
    (data_dir / REPORT_FILE).unlink(missing_ok=True)
    fsync_dir(data_dir)


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
        f"counter {info.counter}  floor {info.floor}  schema {info.schema_version}  "
        f"key {info.key_id}{'  usb (PIN hashes sealed or left out)' if info.portable else ''}"
    )


#: Local backups live beside the database, under the data directory.
LOCAL_DIR_NAME = "backups"


def local_dir(config: KioskConfig) -> Path:
    return config.paths.data_dir / LOCAL_DIR_NAME


def backup_now(config: KioskConfig, usb: Iterable[Path] | None = None) -> BackupRun:
    """The nightly job for a configured kiosk (``kiosk backup now``)."""
    recovery = config.backup.recovery_key
    return run_backup(
        config.paths.data_dir,
        local_dir(config),
        device=config.device.device_id,
        min_free_bytes=config.paths.min_free_mb * 1024 * 1024,
        usb=usb,
        recovery_key=decode_recovery_key(recovery) if recovery else None,
    )
