#!/usr/bin/env python3
"""Build a signed release bundle for kiosks: the project's wheel and all dependency wheels.

Run on the county's release machine, where the release key lives (never on a kiosk):

    .venv/bin/python deploy/make_bundle.py --wheelhouse dist/wheelhouse \\
        --key /secure/county-release.pem --out dist/

The wheelhouse must hold wheels for the kiosk's platform (Raspberry Pi OS bookworm:
CPython 3.11, aarch64). Fill it on a Pi with ``pip wheel . -w dist/wheelhouse``, or
elsewhere with ``pip download --only-binary=:all: --platform manylinux2014_aarch64
--python-version 3.11 -d dist/wheelhouse <deps>`` plus ``pip wheel --no-deps .``.
``--new-key`` makes a release key and prints its public half for /etc/agriqs/release-keys.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.infra.update import PACKAGE, UpdateError, build_bundle
from wire.signing import KeyFileError, SigningKey

_PROJECT_WHEEL = re.compile(r"^agriqs_kiosk-([^-]+)-.*\.whl$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--wheelhouse", type=Path, help="directory of .whl files")
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 release key (PEM, 0600)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    parser.add_argument("--new-key", action="store_true", help="create --key and exit")
    args = parser.parse_args(argv)
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
        out = args.out / f"{PACKAGE}-{versions[0]}.tar"
        build_bundle(wheels, versions[0], key, out)
    except (UpdateError, KeyFileError, OSError) as error:
        print(f"make_bundle: {error}", file=sys.stderr)
        return 1
    print(f"{out}  ({len(wheels)} wheels, version {versions[0]}, key {key.key_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
