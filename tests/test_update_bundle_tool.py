"""deploy/make_bundle.py: the release tool produces bundles that kiosks accept."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from support.wheels import make_wheel

from kiosk.infra.update import UpdateError, verify_bundle

TOOL = Path(__file__).parents[1] / "deploy" / "make_bundle.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_make_bundle_signs_what_the_kiosk_verifies(tmp_path: Path):
    key = tmp_path / "release.pem"
    made = run("--new-key", "--key", str(key))
    assert made.returncode == 0, made.stderr
    public = base64.b64decode(made.stdout.strip())
    assert run("--new-key", "--key", str(key)).returncode == 2  # never overwrite a key
    house = tmp_path / "wheelhouse"
    make_wheel(house, "agriqs-kiosk", "0.3.1", {"agriqs_probe/__init__.py": ""})
    make_wheel(house, "agriqs-dep", "1.0", {"agriqs_dep/__init__.py": ""})
    built = run("--wheelhouse", str(house), "--key", str(key), "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    bundle = tmp_path / "dist" / "agriqs-kiosk-0.3.1.tar"
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    manifest = verify_bundle(bundle, [public], unpacked)
    assert manifest.version == "0.3.1" and len(manifest.files) == 2
    with pytest.raises(UpdateError, match="signature"):
        other = tmp_path / "other"
        other.mkdir()
        verify_bundle(bundle, [bytes(32)], other)


def test_make_bundle_needs_the_project_wheel(tmp_path: Path):
    house = tmp_path / "wheelhouse"
    make_wheel(house, "agriqs-dep", "1.0", {"agriqs_dep/__init__.py": ""})
    run("--new-key", "--key", str(tmp_path / "k.pem"))
    done = run("--wheelhouse", str(house), "--key", str(tmp_path / "k.pem"))
    assert done.returncode == 2 and "exactly one agriqs-kiosk wheel" in done.stderr


def test_make_bundle_refuses_a_wheelhouse_that_cannot_install_offline(tmp_path: Path):
    """The failure the kiosk used to find (`No matching distribution found for
    cryptography>=41`) is found on the release machine, before anything is signed."""
    key = tmp_path / "k.pem"
    run("--new-key", "--key", str(key))
    house = tmp_path / "wheelhouse"
    make_wheel(house, "agriqs-kiosk", "0.4.0", {"agriqs_probe/__init__.py": ""},
               requires=["agriqs-dep>=1", "cryptography>=41"])  # fmt: skip
    make_wheel(house, "agriqs-dep", "1.0", {"agriqs_dep/__init__.py": ""})
    out = tmp_path / "dist"
    for platform_args in ([], ["--platform", "host"]):
        done = run("--wheelhouse", str(house), "--key", str(key), "--out", str(out),
                   *platform_args)  # fmt: skip
        assert done.returncode == 1, done.stdout
        assert "cannot install agriqs-kiosk 0.4.0 offline" in done.stderr
        assert "cryptography" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not out.exists()  # nothing signed, nothing written
    make_wheel(house, "cryptography", "41.0.0", {"cryptography_stub/__init__.py": ""})
    done = run("--wheelhouse", str(house), "--key", str(key), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "agriqs-kiosk-0.4.0.tar").exists()
