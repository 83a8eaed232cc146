"""The one way the project replaces a file: readers see the old bytes or the new ones,
never a torn mix, and the new ones survive a pulled power cord.

write to a fresh temporary file in the same directory (created exclusively, so a planted
symlink is never followed) -> fsync it -> rename over the target -> fsync the directory
(the rename itself is only durable once the directory entry is on disk). The mode is
set on the open file, so the caller's umask never widens it. Every package may use it:
``wire`` is the lowest layer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Secrets and personal data: the owner only.
PRIVATE = 0o600
#: Readable by the service group (root-owned configuration the kiosk user reads).
GROUP_READABLE = 0o640
#: Public material (public keys, trust lists, release artefacts).
PUBLIC = 0o644


def fsync_dir(path: Path) -> None:
    """Make a rename (or a new file) in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data``, durably, with exactly ``mode``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, mode: int) -> None:
    atomic_write(path, text.encode("utf-8"), mode=mode)


def commit_file(partial: Path, final: Path) -> None:
    """Finish a file that was streamed into ``partial`` (an archive being built): fsync
    it, rename it over ``final`` and fsync the directory."""
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, final)
    fsync_dir(final.parent)


class LockHeld(RuntimeError):
    """Another process holds the lock; the message names it."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def hold_lock(path: Path, what: str) -> int:
    """Take an exclusive lock on ``path`` for the life of this process (the kernel drops
    it when the process dies, however it dies); returns the open descriptor. The file
    holds the owner's pid, so the second one can say who holds it."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        pid = int(text) if text.isdigit() else None
        who = f"pid {pid}" if pid else "another process"
        raise LockHeld(f"{what} is already running ({who} holds {path})", pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd
