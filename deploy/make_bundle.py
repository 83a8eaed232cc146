#!/usr/bin/env python3
"""Build a signed release bundle for kiosks: the project's wheel and all dependency wheels.

Run on the county's release machine, where the release key lives (never on a kiosk):

    .venv/bin/python deploy/make_bundle.py --wheelhouse dist/wheelhouse \\
        --key /secure/county-release.pem --out dist/

The wheelhouse must hold wheels for the kiosk's platform (Raspberry Pi OS bookworm:
CPython 3.11, aarch64). Fill it on a Pi with ``pip wheel . -w dist/wheelhouse``, or
elsewhere with ``pip download --only-binary=:all: --platform manylinux2014_aarch64
--python-version 3.11 -d dist/wheelhouse <deps>`` plus ``pip wheel --no-deps .``.
``--new-key`` makes a release key and prints its public half: save that line as
``county-release.pub`` and give it to every kiosk's installer (``install.sh --release-key
county-release.pub`` puts it in ``/etc/agriqs/release-keys/``, the directory
``paths.release_keys`` names); kiosks accept only bundles signed by a key found there.

Before signing, the wheelhouse is installed offline (``pip install --no-index``) into a
scratch directory: a wheelhouse missing a dependency is refused here, not on the kiosk.
``--platform``/``--python-version`` check it for the kiosk's platform from another
machine (default: ``manylinux2014_aarch64``/``3.11`` when the host is not aarch64).
"""

from __future__ import annotations

import argparse
import logging
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.infra.update import PACKAGE, UpdateError, build_bundle
from wire.signing import KeyFileError, SigningKey

_PROJECT_WHEEL = re.compile(r"^agriqs_kiosk-([^-]+)-.*\.whl$")


KIOSK_PLATFORM = "manylinux2014_aarch64"
KIOSK_PYTHON = "3.11"


def check_offline_install(
    wheelhouse: Path, version: str, platform_tag: str | None, python_version: str | None
) -> str | None:
    """Install the project from the wheelhouse alone into a scratch directory; the
    reason it cannot, or None. ``platform_tag``: resolve for another platform."""
    with tempfile.TemporaryDirectory(prefix="agriqs-bundle-check-") as scratch:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                   "--disable-pip-version-check", "--no-cache-dir", "--only-binary=:all:",
                   "--find-links", str(wheelhouse), "--target", scratch]  # fmt: skip
        if platform_tag:
            command += ["--platform", platform_tag, "--implementation", "cp"]
        if python_version:
            command += ["--python-version", python_version]
        done = subprocess.run(
            [*command, f"{PACKAGE}=={version}"], capture_output=True, text=True, timeout=600
        )
    if done.returncode == 0:
        return None
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    return "; ".join(errors) or done.stderr.strip()[-500:] or "pip failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--wheelhouse", type=Path, help="directory of .whl files")
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 release key (PEM, 0600)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    parser.add_argument("--new-key", action="store_true", help="create --key and exit")
    host_is_kiosk = platform.machine() in ("aarch64", "arm64")
    parser.add_argument(
        "--platform",
        default=None if host_is_kiosk else KIOSK_PLATFORM,
        help="check the wheelhouse installs on this platform tag "
        f"(default here: {'this machine' if host_is_kiosk else KIOSK_PLATFORM}); "
        "'host' checks for this machine",
    )
    parser.add_argument(
        "--python-version",
        default=None if host_is_kiosk else KIOSK_PYTHON,
        help=f"the kiosk's Python (default here: {'this one' if host_is_kiosk else KIOSK_PYTHON})",
    )
    args = parser.parse_args(argv)
    if args.platform == "host":
        args.platform, args.python_version = None, None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.new_key:
            if args.key.exists():
                print(f"{args.key} exists; refusing to overwrite a release key", file=sys.stderr)
                return 2
            key = SigningKey.generate()
            key.save(args.key)
            print(key.public_b64)
            return 0
        if args.wheelhouse is None or not args.wheelhouse.is_dir():
            print("--wheelhouse DIR with the wheels is required", file=sys.stderr)
            return 2
        wheels = sorted(args.wheelhouse.glob("*.whl"))
        versions = [m.group(1) for w in wheels if (m := _PROJECT_WHEEL.match(w.name))]
        if len(versions) != 1:
            print(f"need exactly one {PACKAGE} wheel, found {versions}", file=sys.stderr)
            return 2
        key = SigningKey.load(args.key)
        problem = check_offline_install(
            args.wheelhouse, versions[0], args.platform, args.python_version
        )
        if problem:
            target = args.platform or "this machine"
            print(f"make_bundle: the wheelhouse cannot install {PACKAGE} {versions[0]} offline "
                  f"on {target}: {problem}", file=sys.stderr)  # fmt: skip
            return 1
        out = args.out / f"{PACKAGE}-{versions[0]}.tar"
        build_bundle(wheels, versions[0], key, out)
    except (UpdateError, KeyFileError, OSError) as error:
        print(f"make_bundle: {error}", file=sys.stderr)
        return 1
    print(f"{out}  ({len(wheels)} wheels, version {versions[0]}, key {key.key_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
