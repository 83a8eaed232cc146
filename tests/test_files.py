"""The one atomic write: exact modes whatever the umask, old-or-new content, no leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wire.files import PRIVATE, PUBLIC, atomic_write, commit_file


def test_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)  # a careless caller: everything world-writable by default
    try:
        atomic_write(tmp_path / "secret", b"k", mode=PRIVATE)
        atomic_write(tmp_path / "public", b"p", mode=PUBLIC)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o644
    # Replacing an existing, wider file narrows it too.
    (tmp_path / "wide").write_bytes(b"old")
    (tmp_path / "wide").chmod(0o666)
    atomic_write(tmp_path / "wide", b"new", mode=PRIVATE)
    assert stat.S_IMODE((tmp_path / "wide").stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_bytes_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "floor"
    atomic_write(target, b"41\n", mode=PRIVATE)

    def failing_fsync(fd: int) -> None:  # the SD card gives up while flushing
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write(target, b"42\n", mode=PRIVATE)
    assert target.read_bytes() == b"41\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["floor"]


def test_a_symlink_planted_where_the_file_goes_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    target = tmp_path / "state.json"
    target.symlink_to(victim)
    atomic_write(target, b"{}", mode=PRIVATE)
    assert victim.read_bytes() == b"untouched"
    assert not target.is_symlink() and target.read_bytes() == b"{}"


def test_commit_file_finishes_a_streamed_file(tmp_path: Path) -> None:
    partial = tmp_path / ".archive.partial"
    partial.write_bytes(b"tar bytes")
    commit_file(partial, tmp_path / "archive.tar")
    assert (tmp_path / "archive.tar").read_bytes() == b"tar bytes" and not partial.exists()
