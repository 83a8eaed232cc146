"""Offline software update from a signed release bundle, with automatic rollback.

Layout on the kiosk (see docs/deploy.md)::

    /opt/agriqs/venvs/<version>/     one virtual environment per installed version
    /opt/agriqs/current -> venvs/<v> what the systemd units run
    /var/lib/agriqs-update/          root only (0700): pending.json, last-result.json,
                                     update.lock, the unpacked bundle
    /var/lib/agriqs/update/          the service user's: incoming/*.tar, health.json

The root units never trust what the service user can write: their state lives in a
directory only root can write (checked: owner, mode, not a symlink), every file is
opened with O_NOFOLLOW, versions are validated as versions before they become paths,
a bundle is read only as an uncompressed tar whose signed manifest is checked before
any wheel is written, and a version older than the active one is refused unless a
rollback permission signed by a release key names it (``rollback.json``).

A bundle is a tar of wheels plus ``manifest.json``: a document signed by the
county release key (``wire.documents``) listing the version and the SHA-256 of
every wheel. Applying one:

1. verify signature and checksums (nothing is installed from an unverified file);
2. ``pip install --no-index`` into a fresh ``venvs/<version>``, marked complete last;
3. write ``pending.json`` (from, to), then swap ``current`` atomically (rename);
4. restart the services and wait for the new version to write ``health.json``
   naming itself; it does so once its main loop has run healthily (``HealthReport``);
5. healthy: forget pending and prune old versions; not healthy in time: swap back,
   restart, record why.

Killed anywhere (power cut, SIGKILL) the old version stays active: before step 3
``current`` is untouched; after it, ``recover()`` (run at boot, before the kiosk
starts, and before every update) finds ``pending.json`` and swaps back unless the
new version had already reported healthy.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wire.documents import SignatureError, open_document, sign_document
from wire.files import PUBLIC, atomic_write, commit_file, fsync_dir
from wire.signing import SigningKey, decode_public_key

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
MANIFEST_NAME = "manifest.json"
WHEELS_DIR = "wheels"
PACKAGE = "agriqs-kiosk"
INSTALL_ROOT = Path("/opt/agriqs")
STATE_DIR = Path("/var/lib/agriqs-update")
#: Where the service user drops bundles (``incoming/``) and the kiosk reports health.
REPORT_DIR = Path("/var/lib/agriqs/update")
RELEASE_KEYS_DIR = Path("/etc/agriqs/release-keys")
#: The kiosk needs ~10 s to open its store, printer and screen on a Pi 4, then
#: HEALTHY_AFTER_S of running; two minutes leaves room for a slow SD card.
HEALTH_TIMEOUT_S = 120.0
#: How long the main loop must run healthily before the version calls itself good:
#: long enough that a crash right after the first frame is not taken for success.
HEALTHY_AFTER_S = 20.0
#: Versions kept on disk: the running one and the one to roll back to.
KEEP_VERSIONS = 2
#: A bundle larger than this is refused before unpacking: it would fill the SD card.
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
#: Written last into a finished venv; a venv without it is an interrupted install.
COMPLETE_MARKER = ".agriqs-complete"
DEFAULT_RESTART = "systemctl restart agriqs-kiosk.service agriqs-agent.service"
#: A release version: 2-4 numbers, optionally aN/bN/rcN/.postN/.devN. Nothing else
#: ever becomes a path under venvs/.
_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){1,3}((a|b|rc|\.post|\.dev)[0-9]{1,6})?$")
_SUFFIX_ORDER = {".dev": -4, "a": -3, "b": -2, "rc": -1, "": 0, ".post": 1}
#: JSON state files and rollback permissions are small; anything larger is refused.
MAX_JSON_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
ROLLBACK_KIND = "agriqs.rollback"
_WHEEL = re.compile(r"^[A-Za-z0-9._+-]+\.whl$")
_HEALTH_POLL_S = 0.2


class UpdateError(RuntimeError):
    """A bundle was refused or could not be installed; nothing was switched."""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    created_at: str
    files: dict[str, str]


@dataclass(frozen=True)
class UpdateResult:
    """``status`` is "switched", "rolled_back" or "already_active"."""

    status: str
    version: str
    previous: str | None
    reason: str = ""


# -- versions and files ----------------------------------------------------------


def check_version(version: object) -> str:
    """``version`` if it is a release version, else UpdateError (never a path)."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise UpdateError(f"{version!r} is not a release version")
    return version


def version_key(version: str) -> tuple[tuple[int, ...], int, int]:
    """Sort key: numbers, then dev < a < b < rc < final < post."""
    check_version(version)
    match = re.match(r"^([0-9.]+?)((a|b|rc|\.post|\.dev)([0-9]+))?$", version)
    assert match is not None  # check_version passed
    numbers = tuple(int(n) for n in match.group(1).split("."))
    numbers += (0,) * (4 - len(numbers))
    return numbers, _SUFFIX_ORDER[match.group(3) or ""], int(match.group(4) or 0)


def _open_regular(path: Path, limit: int) -> int:
    """An fd on ``path`` for reading: no symlink followed, a regular file, at most
    ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UpdateError(f"cannot open {path} (a symlink?): {error}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        raise UpdateError(f"{path} is not a regular file of at most {limit} bytes")
    return fd


def check_private_dir(path: Path) -> None:
    """``path`` is a real directory only this user may write (made 0700 if missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(path)
    except OSError as error:
        raise UpdateError(f"update state directory {path}: {error}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UpdateError(f"update state {path} is not a directory (a symlink?)")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise UpdateError(
            f"update state {path} is writable by others (owner {info.st_uid}, mode "
            f"{info.st_mode & 0o777:o}): refused; it must belong to root, mode 0700"
        )


# -- bundles ---------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_bundle(
    wheels: Sequence[Path], version: str, key: SigningKey, out: Path, name: str = PACKAGE
) -> Path:
    """Write a signed bundle of ``wheels`` (the project's and all its dependencies')."""
    check_version(version)
    files = {}
    for wheel in wheels:
        if not _WHEEL.match(wheel.name):
            raise UpdateError(f"{wheel.name} is not a wheel file name")
        files[f"{WHEELS_DIR}/{wheel.name}"] = _sha256(wheel)
    if not any(Path(f).name.startswith(name.replace("-", "_") + "-") for f in files):
        raise UpdateError(f"no {name} wheel among {sorted(files)}")
    body = {
        "format": BUNDLE_FORMAT,
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    document = json.dumps(sign_document(body, key), indent=1).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(document)
        info.mtime = int(time.time())
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(document))
        for wheel in wheels:
            tar.add(wheel, arcname=f"{WHEELS_DIR}/{wheel.name}")
    commit_file(partial, out)
    return out


def build_rollback_permission(version: str, from_version: str, key: SigningKey, out: Path) -> Path:
    """A release-key-signed permission to go from ``from_version`` back to ``version``."""
    body = {"format": BUNDLE_FORMAT, "kind": ROLLBACK_KIND, "version": check_version(version),
            "from": check_version(from_version),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    atomic_write(out, json.dumps(sign_document(body, key), indent=1).encode(), mode=PUBLIC)
    return out


def check_rollback(permission: Path | None, version: str, active: str, keys: list[bytes]) -> None:
    """Refuse going from ``active`` back to ``version`` unless ``permission`` (signed by a
    release key) names exactly that step."""
    if permission is None:
        raise UpdateError(
            f"{version} is older than the active {active}: a downgrade needs a rollback "
            "permission signed by the county release key"
        )
    fd = _open_regular(permission, MAX_JSON_BYTES)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read()
    try:
        body = open_document(json.loads(raw), keys)
    except (ValueError, SignatureError) as error:
        raise UpdateError(f"rollback permission {permission} refused: {error}") from None
    if body.get("kind") != ROLLBACK_KIND or (body.get("version"), body.get("from")) != (
        version, active,
    ):  # fmt: skip
        raise UpdateError(
            f"rollback permission {permission} names {body.get('from')!r} -> "
            f"{body.get('version')!r}, not {active} -> {version}"
        )
    log.warning("downgrade %s -> %s allowed by a signed rollback permission", active, version)


def verify_bundle(bundle: Path, trusted_keys: list[bytes], into: Path) -> Manifest:
    """Check ``bundle`` and unpack its wheels into ``into``; raises UpdateError on any doubt.

    The bundle is an uncompressed tar (so nothing unpacks to more than the file's own
    size), opened without following a symlink; every member is a plain file named as
    expected; the signed manifest is read into memory and checked before any wheel is
    written, and only the files it lists are."""
    if not trusted_keys:
        raise UpdateError(f"no release keys configured (put them in {RELEASE_KEYS_DIR})")
    fd = _open_regular(bundle, MAX_BUNDLE_BYTES)
    try:
        with os.fdopen(fd, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
            members = tar.getmembers()
            wanted: dict[str, tarfile.TarInfo] = {}
            for member in members:
                name = member.name
                parts = name.split("/")
                if member.isdir() and name == WHEELS_DIR:
                    continue
                allowed = name == MANIFEST_NAME or (
                    len(parts) == 2 and parts[0] == WHEELS_DIR and _WHEEL.match(parts[1])
                )
                if not allowed or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    raise UpdateError(f"unexpected entry in bundle: {name!r}")
                if name in wanted:
                    raise UpdateError(f"entry {name!r} appears twice in the bundle")
                wanted[name] = member
            if sum(m.size for m in members) > MAX_BUNDLE_BYTES:
                raise UpdateError("bundle unpacks to more than its size limit")
            manifest_member = wanted.get(MANIFEST_NAME)
            if manifest_member is None:
                raise UpdateError(f"bundle {bundle} has no {MANIFEST_NAME}")
            if manifest_member.size > MAX_MANIFEST_BYTES:
                raise UpdateError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
            source = tar.extractfile(manifest_member)
            assert source is not None  # a regular file
            try:
                body = open_document(json.loads(source.read()), trusted_keys)
            except (ValueError, SignatureError) as error:
                raise UpdateError(f"bundle {bundle} refused: {error}") from None
            if body.get("format") != BUNDLE_FORMAT:
                raise UpdateError(f"unknown bundle format {body.get('format')!r}")
            version, files = check_version(body.get("version")), body.get("files")
            if not isinstance(files, dict) or not files:
                raise UpdateError("manifest lists no files")
            present = set(wanted) - {MANIFEST_NAME}
            if present != set(files):
                raise UpdateError(
                    f"bundle files differ from the manifest: {sorted(present ^ set(files))}"
                )
            (into / WHEELS_DIR).mkdir(exist_ok=True)
            for name in sorted(files):
                source = tar.extractfile(wanted[name])
                assert source is not None
                out_fd = os.open(into / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o600)  # fmt: skip
                with source, os.fdopen(out_fd, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise UpdateError(
            f"bundle {bundle} is unreadable (an uncompressed tar?): {error}"
        ) from None
    for name, digest in files.items():
        if _sha256(into / name) != digest:
            raise UpdateError(f"{name} does not match its signed checksum")
    return Manifest(body.get("name", PACKAGE), version, body.get("created_at", ""), files)


# -- health ----------------------------------------------------------------------


def report_healthy(version: str, state_dir: Path = REPORT_DIR) -> None:
    """Record that ``version`` started and ran healthily (the updater waits for this)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        state_dir / "health.json",
        {"version": version, "pid": os.getpid(), "at": datetime.now(UTC).isoformat()},
    )


class HealthReport:
    """Call ``tick()`` on each healthy main-loop iteration; reports once after a while."""

    def __init__(
        self,
        version: str,
        state_dir: Path = REPORT_DIR,
        after_s: float = HEALTHY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.version, self.state_dir, self.after_s, self._clock = version, state_dir, after_s, clock
        self._started = clock()
        self.done = False

    def tick(self) -> bool:
        """True on the iteration that wrote the report."""
        if self.done or self._clock() - self._started < self.after_s:
            return False
        try:
            report_healthy(self.version, self.state_dir)
        except OSError as error:
            log.error("cannot write the health report: %s", error)
            return False
        self.done = True
        return True


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data).encode("utf-8"), mode=PUBLIC)


def _read_json(path: Path) -> dict | None:
    """A small JSON object, never through a symlink; None when absent or unreadable."""
    try:
        fd = _open_regular(path, MAX_JSON_BYTES)
    except UpdateError as error:
        if path.exists() or path.is_symlink():
            log.error("ignoring %s: %s", path, error)
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- the updater -----------------------------------------------------------------


def run_command(command: str) -> Callable[[], None]:
    """A restart action that runs ``command`` and raises when it fails."""

    def restart() -> None:
        subprocess.run(shlex.split(command), check=True, timeout=HEALTH_TIMEOUT_S)

    return restart


class Updater:
    """Installs bundles beside the current version and switches with rollback."""

    def __init__(
        self,
        trusted_keys: list[bytes],
        install_root: Path = INSTALL_ROOT,
        state_dir: Path = STATE_DIR,
        restart: Callable[[], None] | None = None,
        health_timeout_s: float = HEALTH_TIMEOUT_S,
        python: str = sys.executable,
        report_dir: Path | None = None,
    ) -> None:
        self.trusted_keys = trusted_keys
        self.root = install_root
        self.venvs = install_root / "venvs"
        self.current = install_root / "current"
        #: Root's own state (checked before use); ``report_dir`` is the service user's.
        self.state_dir = state_dir
        self.report_dir = report_dir or state_dir
        self.restart = restart or run_command(DEFAULT_RESTART)
        self.health_timeout_s = health_timeout_s
        self.python = python

    @property
    def pending_path(self) -> Path:
        return self.state_dir / "pending.json"

    @property
    def health_path(self) -> Path:
        return self.report_dir / "health.json"

    def active_version(self) -> str | None:
        try:
            target = Path(os.readlink(self.current))
        except FileNotFoundError:
            return None
        if target.parent != Path("venvs") or not _VERSION.match(target.name):
            log.error("current points at %s, not at an installed version", target)
            return None
        return target.name

    def switch(self, version: str) -> None:
        """Point ``current`` at ``venvs/<version>`` in one rename (never a missing link);
        only at a real, completely installed version directory."""
        check_version(version)
        try:
            info = os.lstat(self.venvs / version)
        except FileNotFoundError:
            raise UpdateError(f"version {version} is not installed") from None
        if not stat.S_ISDIR(info.st_mode) or not (self.venvs / version / COMPLETE_MARKER).is_file():
            raise UpdateError(f"venvs/{version} is not a complete installation")
        tmp = self.root / f".current.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(Path("venvs") / version, tmp)
        os.replace(tmp, self.current)
        fsync_dir(self.root)
        log.info("current -> %s", version)

    def healthy(self, version: str) -> bool:
        report = _read_json(self.health_path)
        return report is not None and report.get("version") == version

    def recover(self) -> str | None:
        """Finish or undo an interrupted update; returns the version rolled back from."""
        check_private_dir(self.state_dir)
        self._remove_incomplete()
        pending = _read_json(self.pending_path)
        if pending is None:
            self.pending_path.unlink(missing_ok=True)  # an unreadable (torn) journal
            return None
        new, old = pending.get("to"), pending.get("from")
        if not all(v is None or (isinstance(v, str) and _VERSION.match(v)) for v in (new, old)):
            log.error("pending.json names no versions (%r -> %r): ignored", old, new)
            self.pending_path.unlink()
            self._record("refused", None, None, "pending.json named no versions")
            return None
        active = self.active_version()
        if isinstance(new, str) and active == new and self.healthy(new):
            log.info("interrupted update to %s had reported healthy; keeping it", new)
            self.pending_path.unlink()
            return None
        if old and active != old and (self.venvs / old).is_dir():
            log.error("update to %s was interrupted before it proved healthy; back to %s", new, old)
            self.switch(old)
        self.pending_path.unlink()
        self._record("rolled_back", new, old, "interrupted before the health report")
        return new

    def apply(self, bundle: Path, rollback: Path | None = None) -> UpdateResult:
        """Verify, install, switch and confirm health; rolls back on failure.

        One update at a time: a second caller (the path unit and a technician at
        once) is refused rather than left to race on ``current``. A version older than
        the active one needs ``rollback``, a signed permission naming that step.
        """
        check_private_dir(self.state_dir)
        self.venvs.mkdir(parents=True, exist_ok=True)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.state_dir / "update.lock", flags, 0o600)
        except OSError as error:
            raise UpdateError(f"cannot open the update lock (a symlink?): {error}") from None
        with os.fdopen(fd, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpdateError("another update is running") from None
            return self._apply_locked(bundle, rollback)

    def _apply_locked(self, bundle: Path, rollback: Path | None) -> UpdateResult:
        self.recover()
        old = self.active_version()
        with tempfile.TemporaryDirectory(dir=self.state_dir, prefix=".bundle-") as tmp:
            manifest = verify_bundle(bundle, self.trusted_keys, Path(tmp))
            new = manifest.version
            if new == old:
                return UpdateResult("already_active", new, old)
            if old is not None and version_key(new) < version_key(old):
                check_rollback(rollback, new, old, self.trusted_keys)
            self._install(manifest, Path(tmp))
        _write_json(self.pending_path, {"from": old, "to": new, "at": time.time()})
        self.health_path.unlink(missing_ok=True)
        self.switch(new)
        reason = self._restart_and_wait(new)
        if not reason:
            self.pending_path.unlink()
            self._prune(keep={new, old})
            self._record("switched", new, old)
            return UpdateResult("switched", new, old)
        log.error("version %s is not healthy (%s); rolling back to %s", new, reason, old)
        if old is not None:
            self.switch(old)
            self._restart_quietly()
        self.pending_path.unlink()
        shutil.rmtree(self.venvs / new, ignore_errors=True)
        self._record("rolled_back", new, old, reason)
        return UpdateResult("rolled_back", new, old, reason)

    def _install(self, manifest: Manifest, unpacked: Path) -> None:
        target = self.venvs / manifest.version
        if target.exists():
            shutil.rmtree(target)  # an older failed attempt; never the active one here
        wheel_dir = unpacked / WHEELS_DIR
        steps = [
            [self.python, "-m", "venv", "--without-pip", str(target)],
            # The running venv's pip installs into the new interpreter: no network,
            # no index, only the verified wheels.
            [self.python, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
             "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
             "--find-links", str(wheel_dir), f"{manifest.name}=={manifest.version}"],
        ]  # fmt: skip
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise UpdateError(
                    f"installing {manifest.version} failed: {done.stderr.strip()[-800:]}"
                )
        marker = {"version": manifest.version, "files": manifest.files}
        _write_json(target / COMPLETE_MARKER, marker)

    def _restart_and_wait(self, version: str) -> str:
        """Empty when ``version`` reported healthy in time, else the reason it did not."""
        try:
            self.restart()
        except (OSError, subprocess.SubprocessError) as error:
            return f"restart failed: {error}"
        deadline = time.monotonic() + self.health_timeout_s
        while time.monotonic() < deadline:
            if self.healthy(version):
                return ""
            time.sleep(_HEALTH_POLL_S)
        return f"no health report within {self.health_timeout_s:g} s"

    def _restart_quietly(self) -> None:
        try:
            self.restart()
        except (OSError, subprocess.SubprocessError) as error:
            log.error("restart after rollback failed: %s", error)

    def _remove_incomplete(self) -> None:
        if not self.venvs.is_dir():
            return
        active = self.active_version()
        for venv in self.venvs.iterdir():
            if venv.name != active and not (venv / COMPLETE_MARKER).exists():
                log.warning("removing interrupted install %s", venv)
                shutil.rmtree(venv, ignore_errors=True)

    def _prune(self, keep: set[str | None]) -> None:
        for venv in sorted(self.venvs.iterdir(), key=lambda p: p.stat().st_mtime):
            if venv.name not in keep and len(list(self.venvs.iterdir())) > KEEP_VERSIONS:
                shutil.rmtree(venv, ignore_errors=True)

    def _record(self, status: str, new: str | None, old: str | None, reason: str = "") -> None:
        _write_json(
            self.state_dir / "last-result.json",
            {"status": status, "version": new, "previous": old, "reason": reason,
             "at": datetime.now(UTC).isoformat()},
        )  # fmt: skip

    def take_incoming(self) -> Path | None:
        """The newest bundle dropped into ``incoming/`` (by the agent or a technician);
        symlinks are not bundles."""
        incoming = self.report_dir / "incoming"
        bundles = sorted(
            (p for p in incoming.glob("*.tar") if not p.is_symlink()),
            key=lambda p: p.lstat().st_mtime,
        )
        return bundles[-1] if bundles else None


def rollback_beside(bundle: Path) -> Path | None:
    """``<bundle>.rollback.json`` when one was dropped beside the bundle."""
    path = bundle.with_name(bundle.name.removesuffix(".tar") + ".rollback.json")
    return path if path.exists() and not path.is_symlink() else None


def load_release_keys(directory: Path = RELEASE_KEYS_DIR) -> list[bytes]:
    """County release public keys: one base64 key per ``*.pub`` file."""
    keys = []
    for path in sorted(directory.glob("*.pub")):
        try:
            keys.append(decode_public_key(path.read_text("ascii").strip()))
        except ValueError as error:
            raise UpdateError(f"{path}: {error}") from None
    return keys


# -- command line (`python -m kiosk.infra.update`, used by agriqs-update.service) ----------


def main(argv: Sequence[str] | None = None) -> int:
    """apply BUNDLE | apply-incoming | recover | status; exit 1 when refused or rolled back."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.infra.update", description=__doc__)
    parser.add_argument("--root", type=Path, default=INSTALL_ROOT)
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="root's (0700)")
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR,
                        help="the service user's: incoming/ and health.json")  # fmt: skip
    parser.add_argument("--keys", type=Path, default=RELEASE_KEYS_DIR)
    parser.add_argument("--restart", default=DEFAULT_RESTART, help="command that restarts")
    parser.add_argument("--health-timeout", type=float, default=HEALTH_TIMEOUT_S)
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply")
    apply.add_argument("bundle", type=Path)
    apply.add_argument("--rollback", type=Path, help="signed permission for a downgrade")
    sub.add_parser("apply-incoming")
    sub.add_parser("recover")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        keys = load_release_keys(args.keys) if args.command.startswith("apply") else []
        updater = Updater(
            keys, args.root, args.state_dir, run_command(args.restart), args.health_timeout,
            report_dir=args.report_dir,
        )  # fmt: skip
        if args.command == "recover":
            undone = updater.recover()
            print(f"rolled back from {undone}" if undone else "nothing to recover")
            return 0
        if args.command == "status":
            last = _read_json(args.state_dir / "last-result.json")
            print(json.dumps({"active": updater.active_version(), "last": last}, indent=2))
            return 0
        bundle = args.bundle if args.command == "apply" else updater.take_incoming()
        if bundle is None:
            print("no bundle in incoming/")
            return 0
        rollback = args.rollback if args.command == "apply" else rollback_beside(bundle)
        try:
            result = updater.apply(bundle, rollback)
        finally:
            if args.command == "apply-incoming":
                bundle.unlink(missing_ok=True)
                if rollback is not None:
                    rollback.unlink(missing_ok=True)
    except UpdateError as error:
        print(f"update refused: {error}", file=sys.stderr)
        return 1
    print(f"{result.status}: {result.version} (previous {result.previous}) {result.reason}")
    return 0 if result.status in ("switched", "already_active") else 1


if __name__ == "__main__":
    sys.exit(main())
