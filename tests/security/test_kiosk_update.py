"""Issue 11 item 3: update state cannot make root, attacked with real venvs and files.

Before the defence (main at aa4ea2d): the service user owned the update state;
``pending.json`` with ``{"from": "../../var/pwn"}`` made ``current`` point outside
``venvs/``; a symlink planted at ``update.lock`` was followed (and truncated its
target); a 64 KB gzip bundle wrote 64 MiB before its signature was checked; a genuinely
signed older bundle was installed (downgrade to a known-vulnerable version).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from test_update import Env

from kiosk.infra.update import (
    UpdateError,
    build_rollback_permission,
    check_version,
    version_key,
)
from wire.documents import sign_document
from wire.signing import SigningKey


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    assert env.updater().apply(env.bundle("2.0.0")).status == "switched"
    return env


def test_pending_json_cannot_point_current_outside_venvs(env: Env, tmp_path: Path) -> None:
    pwn = tmp_path / "var" / "pwn"
    (pwn / "bin").mkdir(parents=True)
    (pwn / ".agriqs-complete").write_text("{}")
    for hostile in ("../../var/pwn", "../../../../tmp", "/etc", "2.0.0/../../x", "1.0.0\n"):
        (env.state / "pending.json").write_text(json.dumps({"from": hostile, "to": "9.9.9"}))
        env.updater().recover()
        assert env.current() == "venvs/2.0.0", hostile
        assert not (env.state / "pending.json").exists()
    with pytest.raises(UpdateError):
        env.updater().switch("../../var/pwn")
    assert env.current() == "venvs/2.0.0"


@pytest.mark.parametrize("name", ["update.lock", "pending.json"])
def test_a_symlink_planted_in_the_state_is_not_followed(env: Env, tmp_path: Path, name) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    (env.state / name).unlink(missing_ok=True)
    (env.state / name).symlink_to(victim)
    with contextlib.suppress(UpdateError):  # refusing is fine; following is not
        env.updater().apply(env.bundle("2.1.0"))
    assert victim.read_text() == "root:secret\n"
    assert os.readlink(env.root / "current").startswith("venvs/")


def test_a_state_directory_others_can_write_is_refused(env: Env) -> None:
    os.chmod(env.state, 0o777)
    with pytest.raises(UpdateError, match="writable by others"):
        env.updater().apply(env.bundle("2.1.0"))
    os.chmod(env.state, 0o700)
    os.chown(env.state, 65534, 65534)  # the service user's, not root's
    try:
        with pytest.raises(UpdateError, match="writable by others"):
            env.updater().recover()
    finally:
        os.chown(env.state, os.geteuid(), os.getegid())
    assert env.current() == "venvs/2.0.0"


def test_a_compressed_bomb_is_refused_before_anything_is_written(env: Env, tmp_path) -> None:
    bomb = tmp_path / "bomb.tar"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("wheels/agriqs_kiosk-9.0.0-py3-none-any.whl")
        info.size = 64 * 2**20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb.write_bytes(gzip.compress(raw.getvalue()))
    assert bomb.stat().st_size < 200_000
    before = sum(f.stat().st_size for f in env.state.rglob("*") if f.is_file())
    with pytest.raises(UpdateError, match="uncompressed tar"):
        env.updater().apply(bomb)
    after = sum(f.stat().st_size for f in env.state.rglob("*") if f.is_file())
    assert after - before < 10_000


def test_an_unsigned_manifest_is_refused_before_any_wheel_is_written(env: Env, tmp_path) -> None:
    forged = sign_document({"format": 1, "name": "agriqs-kiosk", "version": "9.0.0",
                            "files": {}}, SigningKey.generate())  # fmt: skip
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        wheel = "wheels/agriqs_kiosk-9.0.0-py3-none-any.whl"
        for name, data in (("manifest.json", json.dumps(forged).encode()), (wheel, bytes(2**22))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    from kiosk.infra.update import verify_bundle

    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(UpdateError, match="refused"):
        verify_bundle(evil, [env.key.public_bytes], into)
    assert list(into.rglob("*")) == []


def test_a_symlinked_bundle_is_not_read(env: Env, tmp_path) -> None:
    secret = tmp_path / "secret.tar"
    secret.write_bytes(env.bundle("2.1.0").read_bytes())
    link = tmp_path / "incoming-link.tar"
    link.symlink_to(secret)
    with pytest.raises(UpdateError, match="symlink"):
        env.updater().apply(link)


def test_a_genuinely_signed_older_bundle_needs_a_signed_rollback_permission(env, tmp_path) -> None:
    older = env.bundle("1.0.0")
    with pytest.raises(UpdateError, match="rollback permission"):
        env.updater().apply(older)
    assert env.current() == "venvs/2.0.0"
    wrong = build_rollback_permission("1.0.1", "2.0.0", env.key, tmp_path / "wrong.json")
    with pytest.raises(UpdateError, match="names"):
        env.updater().apply(older, wrong)
    forged = build_rollback_permission("1.0.0", "2.0.0", SigningKey.generate(), tmp_path / "f.json")
    with pytest.raises(UpdateError, match="refused"):
        env.updater().apply(older, forged)
    allowed = build_rollback_permission("1.0.0", "2.0.0", env.key, tmp_path / "ok.json")
    assert env.updater().apply(older, allowed).status == "switched"
    assert env.current() == "venvs/1.0.0"


def test_versions_are_versions() -> None:
    for bad in ("../x", "1", "1.0/..", "01.0.0-evil", "1.0.0 ", "", "1..0"):
        with pytest.raises(UpdateError):
            check_version(bad)
    order = ["1.0.0.dev1", "1.0.0a1", "1.0.0b2", "1.0.0rc1", "1.0.0", "1.0.0.post1", "1.0.1"]
    assert sorted(order, key=version_key) == order
    assert version_key("1.10.0") > version_key("1.9.0")
