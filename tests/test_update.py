"""Signed release bundles: switch, refusal, rollback on failed health, SIGKILL mid-update.

The wheels are tiny and built here (a wheel is a zip with dist-info), so pip
installs them offline in well under a second; the install, the venv and the
symlink swap are all real.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from support.wheels import make_wheel

from kiosk.infra.update import COMPLETE_MARKER, UpdateError, Updater, build_bundle
from wire.signing import SigningKey

REPO = Path(__file__).parents[1]

PROBE = """\
import json, os, sys
VERSION = {version!r}
HEALTHY = {healthy!r}

def start():
    # Stands in for the kiosk: a good version reports healthy, a bad one dies at start.
    if not HEALTHY:
        sys.exit("simulated crash at start")
    state = os.environ["AGRIQS_UPDATE_STATE"]
    with open(os.path.join(state, "health.json"), "w") as out:
        json.dump({{"version": VERSION, "pid": os.getpid()}}, out)
"""


class Env:
    """A fake /opt/agriqs and /var/lib/agriqs/update, and a bundle factory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "opt"
        self.state = tmp / "state"
        self.state.mkdir()
        self.key = SigningKey.generate()
        self.keys_dir = tmp / "keys"
        self.keys_dir.mkdir()
        (self.keys_dir / "county-release.pub").write_text(self.key.public_b64)
        self.dep = make_wheel(tmp / "dep", "agriqs-dep", "1.0", {"agriqs_dep/__init__.py": ""})

    def bundle(self, version: str, *, healthy: bool = True, key: SigningKey | None = None) -> Path:
        source = PROBE.format(version=version, healthy=healthy)
        wheel = make_wheel(
            self.tmp / f"w-{version}",
            "agriqs-kiosk",
            version,
            {"agriqs_probe/__init__.py": source},
            requires=["agriqs-dep"],
            scripts={"agriqs-probe-start": "agriqs_probe:start"},
        )
        out = self.tmp / f"agriqs-kiosk-{version}.tar"
        return build_bundle([wheel, self.dep], version, key or self.key, out)

    def restart_command(self) -> list[str]:
        """What systemctl restart does here: run the current version's start."""
        return [str(self.root / "current" / "bin" / "agriqs-probe-start")]

    def restart(self) -> None:
        subprocess.run(self.restart_command(), env=self.env(), check=True)

    def env(self) -> dict[str, str]:
        return {**os.environ, "AGRIQS_UPDATE_STATE": str(self.state)}

    def updater(self, timeout: float = 5.0) -> Updater:
        return Updater(
            [self.key.public_bytes], self.root, self.state, self.restart, health_timeout_s=timeout
        )

    def current(self) -> str:
        return os.readlink(self.root / "current")

    def health(self) -> dict:
        return json.loads((self.state / "health.json").read_text())


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    result = env.updater().apply(env.bundle("1.0.0"))
    assert result.status == "switched" and result.previous is None
    return env


def test_good_bundle_switches_and_keeps_the_previous_version(env: Env):
    result = env.updater().apply(env.bundle("2.0.0"))
    assert (result.status, result.version, result.previous) == ("switched", "2.0.0", "1.0.0")
    assert env.current() == "venvs/2.0.0"
    assert env.health()["version"] == "2.0.0"
    python = env.root / "current" / "bin" / "python"
    subprocess.run([python, "-c", "import agriqs_dep, agriqs_probe"], check=True)  # dependency too
    assert (env.root / "venvs" / "1.0.0").is_dir(), "the rollback target is kept"
    assert not (env.state / "pending.json").exists()
    assert json.loads((env.state / "last-result.json").read_text())["status"] == "switched"
    # The same bundle again changes nothing.
    assert env.updater().apply(env.bundle("2.0.0")).status == "already_active"


def test_bundle_signed_by_another_key_is_refused(env: Env):
    forged = env.bundle("2.0.0", key=SigningKey.generate())
    with pytest.raises(UpdateError, match="signature"):
        env.updater().apply(forged)
    assert env.current() == "venvs/1.0.0"
    assert not (env.root / "venvs" / "2.0.0").exists()


def test_bundle_with_a_swapped_wheel_is_refused(env: Env):
    good = env.bundle("2.0.0")
    evil = make_wheel(env.tmp / "evil", "agriqs-dep", "1.0", {"agriqs_dep/__init__.py": "1/0"})
    tampered = env.tmp / "tampered.tar"
    with tarfile.open(good) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            if member.name.endswith(evil.name):
                dst.add(evil, arcname=member.name)
            else:
                dst.addfile(member, src.extractfile(member))
    with pytest.raises(UpdateError, match="does not match its signed checksum"):
        env.updater().apply(tampered)
    assert env.current() == "venvs/1.0.0"


def test_bundle_with_path_traversal_is_refused(env: Env, tmp_path: Path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        payload = tmp_path / "payload"
        payload.write_text("x")
        tar.add(payload, arcname="../../etc/cron.d/x")
    with pytest.raises(UpdateError, match="unexpected entry"):
        env.updater().apply(evil)
    assert not (tmp_path.parent.parent / "etc" / "cron.d" / "x").exists()


def test_version_failing_its_health_check_is_rolled_back(env: Env):
    result = env.updater(timeout=1.0).apply(env.bundle("3.0.0", healthy=False))
    assert result.status == "rolled_back", result
    assert "restart failed" in result.reason  # the new version's start crashed
    assert env.current() == "venvs/1.0.0"
    assert env.health()["version"] == "1.0.0", "the old version was restarted"
    assert not (env.root / "venvs" / "3.0.0").exists()
    last = json.loads((env.state / "last-result.json").read_text())
    assert last["status"] == "rolled_back" and last["version"] == "3.0.0"


def test_version_silent_until_timeout_is_rolled_back(env: Env):
    """Starts (restart succeeds) but never says healthy: a hung UI, say."""
    calls = []

    def restart() -> None:
        calls.append(env.current())
        if env.current() == "venvs/1.0.0":
            env.restart()

    updater = Updater([env.key.public_bytes], env.root, env.state, restart, health_timeout_s=0.8)
    started = time.monotonic()
    result = updater.apply(env.bundle("2.0.0"))
    assert result.status == "rolled_back" and "no health report" in result.reason
    assert time.monotonic() - started >= 0.8
    assert calls == ["venvs/2.0.0", "venvs/1.0.0"]
    assert env.current() == "venvs/1.0.0"


def _spawn_update(env: Env, bundle: Path, restart: str, timeout: float) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "kiosk.infra.update",
        "--root", str(env.root), "--state-dir", str(env.state), "--keys", str(env.keys_dir),
        "--restart", restart, "--health-timeout", str(timeout), "apply", str(bundle),
    ]  # fmt: skip
    # Its own process group: the kill below takes the updater and its pip together,
    # as systemd (KillMode=control-group) or a power cut does.
    return subprocess.Popen(
        command, cwd=REPO, env=env.env(), stderr=subprocess.PIPE, start_new_session=True
    )


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"updater ended first: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        time.sleep(0.002)


def test_update_killed_during_install_leaves_old_version_active(env: Env):
    bundle = env.bundle("2.0.0")
    restart = " ".join(env.restart_command())
    proc = _spawn_update(env, bundle, restart, timeout=10)
    target = env.root / "venvs" / "2.0.0"
    _wait_for(target.exists, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert env.current() == "venvs/1.0.0"
    assert not (target / COMPLETE_MARKER).exists(), "killed too late to test an install"
    # The next run clears the half-built venv and installs cleanly.
    updater = env.updater()
    assert updater.recover() is None
    assert not target.exists()
    assert updater.apply(bundle).status == "switched"
    assert env.current() == "venvs/2.0.0"


def test_update_killed_after_switch_is_undone_by_recovery(env: Env):
    bundle = env.bundle("2.0.0")
    proc = _spawn_update(env, bundle, "true", timeout=30)  # the new version never reports
    pending = env.state / "pending.json"
    _wait_for(lambda: pending.exists() and env.current() == "venvs/2.0.0", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Power back: agriqs-update-recover.service runs before the kiosk starts.
    assert env.updater().recover() == "2.0.0"
    assert env.current() == "venvs/1.0.0"
    assert not pending.exists()


def test_recovery_keeps_a_new_version_that_had_reported_healthy(env: Env):
    updater = env.updater()
    assert updater.apply(env.bundle("2.0.0")).status == "switched"
    # As if killed after the health report but before pending.json was removed.
    (env.state / "pending.json").write_text(json.dumps({"from": "1.0.0", "to": "2.0.0"}))
    assert updater.recover() is None
    assert env.current() == "venvs/2.0.0"
    # Without the report it would have gone back.
    (env.state / "pending.json").write_text(json.dumps({"from": "1.0.0", "to": "2.0.0"}))
    (env.state / "health.json").unlink()
    assert updater.recover() == "2.0.0"
    assert env.current() == "venvs/1.0.0"


def test_cli_refuses_without_release_keys(env: Env, tmp_path: Path):
    empty = tmp_path / "nokeys"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "kiosk.infra.update", "--root", str(env.root), "--state-dir",
         str(env.state), "--keys", str(empty), "apply", str(env.bundle("2.0.0"))],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no release keys configured" in done.stderr
    assert env.current() == "venvs/1.0.0"


def test_second_concurrent_update_is_refused(env: Env):
    with open(env.state / "update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(UpdateError, match="another update is running"):
            env.updater().apply(env.bundle("2.0.0"))
    assert env.current() == "venvs/1.0.0"
