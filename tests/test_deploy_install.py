"""deploy/install.sh against directory trees: dry run, real run, idempotence, bundles.

A debootstrap of arm64 bookworm (plus cage and the SDL stack) would take far more
than the suite's budget on this x86 CI host, so the installer is exercised with
``--root`` on a tree holding what it reads (passwd/group files, the stock systemd
units), and in dry-run mode on the live system.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from support.wheels import make_wheel

from kiosk.infra.update import build_bundle
from wire.signing import SigningKey

REPO = Path(__file__).parents[1]
INSTALL = REPO / "deploy" / "install.sh"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


def run(*args: str) -> subprocess.CompletedProcess:
    # python3 must have `cryptography` for the signature check, as python3-cryptography
    # gives it on the Pi: use the project's interpreter.
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=120
    )


def make_tree(path: Path) -> Path:
    (path / "etc").mkdir(parents=True)
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (path / "etc/group").write_text("root:x:0:\n")
    (path / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (path / "etc/gshadow").write_text("root:*::\n")
    shutil.copytree("/usr/lib/systemd/system", path / "usr/lib/systemd/system", symlinks=True)
    return path


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path with its type, mode, owner and content (or link target)."""
    result = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            what = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            what = ("dir",)
        else:
            what = ("file", path.read_bytes())
        result[str(path.relative_to(root))] = (*what, info.st_mode, info.st_uid, info.st_gid)
    return result


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("install") / "root")


def test_dry_run_prints_every_change_and_changes_nothing(tree: Path):
    before = snapshot(tree)
    done = run("--root", str(tree), "--skip-packages", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert snapshot(tree) == before
    out = done.stdout
    for expected in (
        "would: create system user agriqs",
        "would: mkdir /var/lib/agriqs",
        "would: install /etc/systemd/system/agriqs-kiosk.service",
        "would: install /etc/udev/rules.d/70-agriqs-devices.rules",
        "would: install /etc/systemd/journald.conf.d/agriqs.conf",
        "would: enable agriqs-kiosk.service",
        "would: enable agriqs-backup.timer",
        "would: mask getty@tty1.service",
    ):
        assert expected in out, out
    assert "change:" not in out
    assert "changes would be made, none were" in out


def test_install_into_tree_then_second_run_changes_nothing(tree: Path):
    first = run("--root", str(tree), "--skip-packages")
    assert first.returncode == 0, first.stderr
    assert "change: create system user agriqs" in first.stdout
    passwd = (tree / "etc/passwd").read_text()
    user = next(line.split(":") for line in passwd.splitlines() if line.startswith("agriqs:"))
    assert user[5:] == ["/var/lib/agriqs", "/usr/sbin/nologin"]
    data = (tree / "var/lib/agriqs").stat()
    assert (data.st_uid, stat.S_IMODE(data.st_mode)) == (int(user[2]), 0o750)
    units = tree / "etc/systemd/system"
    kiosk_unit = REPO / "systemd/system/agriqs-kiosk.service"
    assert (units / "agriqs-kiosk.service").read_bytes() == kiosk_unit.read_bytes()
    assert (units / "graphical.target.wants/agriqs-kiosk.service").is_symlink()
    assert (units / "timers.target.wants/agriqs-backup.timer").is_symlink()
    assert os.readlink(units / "getty@tty1.service") == "/dev/null"
    assert (tree / "etc/agriqs/kiosk.toml").exists()

    # Owners and modes as docs/deploy.md documents them, in the tree's own ids.
    group = (tree / "etc/group").read_text()
    gid = int(next(line.split(":")[2] for line in group.splitlines() if line.startswith("agriqs:")))
    for path, owner, mode in (
        ("etc/agriqs/kiosk.toml", (0, gid), 0o640),
        ("etc/agriqs", (0, gid), 0o750),
        ("etc/agriqs/release-keys", (0, 0), 0o755),
        ("var/lib/agriqs", (int(user[2]), gid), 0o750),
        ("var/lib/agriqs/update/incoming", (int(user[2]), gid), 0o750),
        ("var/lib/agriqs-update", (0, 0), 0o700),
        ("opt/agriqs", (0, 0), 0o755),
    ):
        info = (tree / path).stat()
        assert ((info.st_uid, info.st_gid), stat.S_IMODE(info.st_mode)) == (owner, mode), path

    before = snapshot(tree)
    second = run("--root", str(tree), "--skip-packages")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith("no changes"), second.stdout
    assert "change:" not in second.stdout
    assert snapshot(tree) == before

    # A technician's edit to the config survives; a tampered unit is put back.
    (tree / "etc/agriqs/kiosk.toml").write_text("[device]\ndevice_id = 'K042'\n")
    (units / "agriqs-kiosk.service").write_text("[Service]\nExecStart=/bin/sh\n")
    third = run("--root", str(tree), "--skip-packages")
    assert third.stdout.count("change:") == 1, third.stdout
    assert (units / "agriqs-kiosk.service").read_bytes() == kiosk_unit.read_bytes()
    assert "K042" in (tree / "etc/agriqs/kiosk.toml").read_text()

    # A config left world-readable or root:root (an scp, an editor) is put right.
    os.chown(tree / "etc/agriqs/kiosk.toml", 0, 0)
    os.chmod(tree / "etc/agriqs/kiosk.toml", 0o644)
    fourth = run("--root", str(tree), "--skip-packages")
    assert "change: chmod 0640, chown root:agriqs /etc/agriqs/kiosk.toml" in fourth.stdout
    info = (tree / "etc/agriqs/kiosk.toml").stat()
    assert (info.st_gid, stat.S_IMODE(info.st_mode)) == (gid, 0o640)
    assert "K042" in (tree / "etc/agriqs/kiosk.toml").read_text()


def test_install_from_signed_bundle(tmp_path: Path):
    tree = make_tree(tmp_path / "root")
    key = SigningKey.generate()
    pub = tmp_path / "county-release.pub"
    pub.write_text(key.public_b64 + "\n")
    wheel = make_wheel(tmp_path / "w", "agriqs-kiosk", "0.9.0", {"agriqs_probe/__init__.py": ""})
    bundle = build_bundle([wheel], "0.9.0", key, tmp_path / "b.tar")

    forged = build_bundle([wheel], "0.9.0", SigningKey.generate(), tmp_path / "forged.tar")
    refused = run("--root", str(tree), "--skip-packages", "--bundle", str(forged),
                  "--release-key", str(pub))  # fmt: skip
    assert refused.returncode == 1 and "refused" in refused.stderr
    assert not (tree / "opt/agriqs/current").exists()

    done = run("--root", str(tree), "--skip-packages", "--bundle", str(bundle),
               "--release-key", str(pub))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # An image: nothing built with this machine's Python; the bundle waits for the
    # kiosk's first boot (agriqs-firstboot.service runs the staged installer).
    assert not (tree / "opt/agriqs/current").exists()
    assert not list((tree / "opt/agriqs/venvs").iterdir())
    staged = tree / "var/lib/agriqs-firstboot/bundle.tar"
    assert staged.read_bytes() == bundle.read_bytes()
    assert stat.S_IMODE(staged.stat().st_mode) == 0o600
    script = tree / "usr/local/lib/agriqs/install.sh"
    assert script.read_bytes() == INSTALL.read_bytes() and os.access(script, os.X_OK)
    wants = tree / "etc/systemd/system/multi-user.target.wants/agriqs-firstboot.service"
    assert wants.is_symlink()
    unit = (REPO / "systemd/system/agriqs-firstboot.service").read_text()
    assert "--software-only --bundle /var/lib/agriqs-firstboot/bundle.tar" in unit
    assert (tree / "etc/agriqs/release-keys/county-release.pub").read_text().strip() == (
        key.public_b64
    )
    again = run("--root", str(tree), "--skip-packages", "--bundle", str(bundle),
                "--release-key", str(pub))  # fmt: skip
    assert again.stdout.strip().endswith("no changes"), again.stdout

    # What the unit does at first boot, here against the tree: the staged script installs
    # the staged bundle with the release key the image carries.
    boot = subprocess.run(
        ["bash", str(script), "--root", str(tree), "--software-only", "--bundle", str(staged),
         "--release-key", str(tree / "etc/agriqs/release-keys/county-release.pub")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert boot.returncode == 0, boot.stderr
    assert os.readlink(tree / "opt/agriqs/current") == "venvs/0.9.0"
    python = tree / "opt/agriqs/current/bin/python"
    subprocess.run([python, "-c", "import agriqs_probe"], check=True)


def test_dry_run_on_the_live_system_changes_nothing():
    watched = [Path(p) for p in ("/etc/agriqs", "/var/lib/agriqs", "/opt/agriqs",
                                 "/etc/systemd/system/agriqs-kiosk.service")]  # fmt: skip
    before = {p: p.exists() for p in watched}
    passwd = Path("/etc/passwd").read_bytes()
    done = run("--dry-run")
    assert done.returncode == 0, done.stderr
    assert {p: p.exists() for p in watched} == before
    assert Path("/etc/passwd").read_bytes() == passwd
    assert "change:" not in done.stdout
    assert "would:" in done.stdout or "no changes" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frobnicate"], "unknown option --frobnicate"),
        (["--root", "/nonexistent/tree"], "is not a directory"),
        (["--bundle", "x.tar", "--dry-run"], "needs --release-key"),
    ],
)
def test_bad_usage_is_refused_clearly(args: list[str], message: str):
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_installer_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.fail("shellcheck is missing: run `apt-get install -y shellcheck`")
    done = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
