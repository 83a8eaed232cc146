#!/usr/bin/env python3
"""Generate the broker's ACL (and optionally its password file) from an account list.

Why generated: each kiosk's rights are written into its own ``user`` block with its
topics in full (``pattern`` lines apply to every account, so a ``%u`` pattern would also
let the enrollment, collector and county accounts publish under their own names where
collectors listen). What every account shares is in acl.base.

Accounts file, one per line (``#`` comments)::

    kiosk      330100/K001
    collector  collector-330100-1 330100    # one account per collector instance:
    collector  collector-330100-2 330100    #   its client id must be its username
    collector  collector-all-1 +            # a provincial collector
    county     county-330100 330100         # writes cmd/cfg/trust for its county
    enroll     enroll-330100 330100         # new kiosks of that county: enrollment only

Usage::

    make_acl.py accounts.txt --out /etc/mosquitto/acl
    make_acl.py accounts.txt --out acl --passwords passwd --secrets secrets.txt
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

#: A copy of wire.topics.PREFIX (this script runs without the project installed);
#: tests/test_wire_topics.py checks they agree.
PREFIX = "agriqs/v1"
KIOSK_USER = re.compile(r"^[0-9]{6}/[A-Z][A-Z0-9]{1,7}$")
ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9-]{2,40}$")
COUNTY = re.compile(r"^([0-9]{6}|\+)$")
#: Generated passwords: 24 random bytes, URL-safe text.
PASSWORD_BYTES = 24


class AccountError(ValueError):
    """A line of the accounts file is unusable; the message names it."""


def parse_accounts(text: str) -> list[tuple[str, str, str | None]]:
    """(role, username, county) for each line; refuses anything ambiguous."""
    accounts = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        role, user = parts[0], parts[1] if len(parts) > 1 else ""
        county = parts[2] if len(parts) > 2 else None
        if role == "kiosk":
            if not KIOSK_USER.match(user) or len(parts) != 2:
                raise AccountError(f"line {number}: kiosk needs one username county/DEVICE")
            county = user.split("/")[0]
        elif role in ("collector", "county", "enroll"):
            if not ACCOUNT_NAME.match(user) or county is None or not COUNTY.match(county):
                raise AccountError(f"line {number}: {role} needs a name and a county code")
            if role in ("county", "enroll") and county == "+":
                raise AccountError(f"line {number}: a county account names one county")
        else:
            raise AccountError(f"line {number}: unknown role {role!r}")
        if user in seen:
            raise AccountError(f"line {number}: duplicate username {user}")
        seen.add(user)
        accounts.append((role, user, county))
    # A client id "name" or "name-..." belongs to account "name" (agriqs_clientid plugin):
    # an account named "a-b" next to "a" would share ids with it.
    owners = {user.replace("/", "-") for _, user, _ in accounts}
    for owner in owners:
        for i, char in enumerate(owner):
            if char == "-" and owner[:i] in owners:
                raise AccountError(f"account {owner} would share client ids with {owner[:i]}")
    return accounts


def render_acl(accounts: list[tuple[str, str, str | None]], base: str, prefix: str = PREFIX) -> str:
    out = [base.rstrip().replace(PREFIX, prefix), ""]
    for role, user, county in accounts:
        out.append(f"user {user}")
        if role == "kiosk":
            # Kiosk -> county: its events, retained birth/Will, command replies (the MQTT
            # v5 ResponseTopic the station names lies here); county -> kiosk: commands,
            # retained config bundle, the county's trust list.
            out.append(f"topic write {prefix}/{user}/evt/#")
            out.append(f"topic write {prefix}/{user}/state")
            out.append(f"topic write {prefix}/{user}/reply/#")
            out.append(f"topic read {prefix}/{user}/cmd/#")
            out.append(f"topic read {prefix}/{user}/cfg")
            out.append(f"topic read {prefix}/{county}/trust")
            out.append(f"topic read {prefix}/{county}/holds")
            out.append(f"topic read {prefix}/{county}/time")
        elif role == "collector":
            out.append(f"topic read {prefix}/{county}/+/evt/#")
            out.append(f"topic read {prefix}/{county}/+/state")
            # Each collector's retained claim (which store it writes to), so two
            # stores in one shared-subscription group are refused at start.
            out.append(f"topic readwrite {prefix}/_collectors/#")
        elif role == "enroll":
            # Nothing of its own: the %c patterns of acl.base are all it may use.
            out.append(f"# enrollment account for {county}: acl.base patterns only")
        else:
            out.append(f"topic readwrite {prefix}/{county}/+/cmd/#")
            out.append(f"topic write {prefix}/{county}/+/cfg")
            out.append(f"topic write {prefix}/{county}/trust")
            out.append(f"topic write {prefix}/{county}/holds")
            out.append(f"topic write {prefix}/{county}/time")
            out.append(f"topic read {prefix}/{county}/+/state")
            # Provisioning: command replies, enrollment requests and answers.
            out.append(f"topic read {prefix}/{county}/+/reply/#")
            out.append(f"topic read {prefix}/enroll/{county}/+/req")
            out.append(f"topic write {prefix}/enroll/{county}/+/resp")
        out.append("")
    return "\n".join(out)


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read: 0600 whatever the umask and even
    over an existing file of another mode; a symlink planted at ``path`` is refused."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_passwords(path: Path, passwords: dict[str, str]) -> None:
    """Hash with mosquitto_passwd (its format changes between versions; never by hand)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise SystemExit("mosquitto_passwd not found (install the mosquitto package)")
    path.unlink(missing_ok=True)
    write_secret(path, "")
    for user, password in passwords.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("accounts", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="ACL file to write")
    parser.add_argument("--base", type=Path, default=Path(__file__).with_name("acl.base"))
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--passwords", type=Path, help="also write a mosquitto password file")
    parser.add_argument(
        "--secrets", type=Path, help="with --passwords: write generated 'user password' lines"
    )
    args = parser.parse_args(argv)
    try:
        accounts = parse_accounts(args.accounts.read_text("utf-8"))
    except AccountError as exc:
        print(f"{args.accounts}: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(render_acl(accounts, args.base.read_text("utf-8"), args.prefix))
    if args.passwords:
        if not args.secrets:
            parser.error("--passwords needs --secrets (where the generated passwords go)")
        generated = {user: secrets.token_urlsafe(PASSWORD_BYTES) for _, user, _ in accounts}
        write_secret(args.secrets, "".join(f"{u} {p}\n" for u, p in generated.items()))
        write_passwords(args.passwords, generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
