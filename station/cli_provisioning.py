"""Station subcommands for provisioning: devices, cmd, config, trust (docs/provisioning.md).

Registered from station/cli.py's ``build_parser``. Exit codes: 0 done, 1 refused /
error reply / timeout, 2 bad usage.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import secrets
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from station.db import Database
from wire.cli import CliError
from wire.files import PRIVATE, atomic_write
from wire.mqtt import BrokerError, BrokerSettings, TlsSettings
from wire.provisioning import check_command_args, reply_deadline_s
from wire.signing import KeyFileError, SigningKey
from wire.topics import PREFIX

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("station")


def _db(parser: argparse.ArgumentParser, *, create: bool = False) -> None:
    """``--db``; ``create``: this command may start a new store (the others refuse one
    that does not exist unless given ``--create``)."""
    parser.add_argument("--db", default="station.db", help="SQLite path or postgresql:// URL")
    if not create:
        must_exist(parser)


def must_exist(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create", action="store_true", help="start a new database if --db does not exist"
    )
    parser.set_defaults(db_must_exist=True)


def _key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", type=Path, required=True, help="county signing key (PEM, 0600)")


def add_broker_args(parser: argparse.ArgumentParser) -> None:
    """The county's provisioning login (account ``county-{county}``)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", help="county-{county} account")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key-file", dest="tls_key", type=Path, help="TLS client key")
    parser.add_argument("--prefix", default=PREFIX)


def settings_from_args(args: Any, client_id: str = "") -> BrokerSettings:
    """Broker settings from the common options. With a login, the client id is
    ``{username}-{purpose}`` (the broker's agriqs_clientid plugin accepts only ids that
    start with the account name: docs/deploy/mosquitto/README.md)."""
    password = args.password_file.read_text().strip() if args.password_file else None
    if args.username:
        client_id = f"{args.username}-{client_id or secrets.token_hex(6)}"
    return BrokerSettings(
        host=args.host,
        port=args.port,
        username=args.username,
        password=password,
        tls=TlsSettings.from_files(args.ca, args.cert, args.tls_key),
        client_id=client_id,
        prefix=args.prefix,
    )


_COUNTY = re.compile(r"^\d{6}$")
_DEVICE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


def county_code(text: str) -> str:
    """A county as kiosks know it: 6 digits (GB/T 2260); ``33010`` is refused here,
    not discovered when no kiosk can enroll."""
    if not _COUNTY.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a county code (6 digits, e.g. 330100)")
    return text


def device_id(text: str) -> str:
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device id (a capital letter, then 1-7 capitals or digits: K001)"
        )
    return text


def _device(text: str, county: str | None) -> tuple[str, str]:
    if "/" in text:
        c, d = text.split("/", 1)
    elif not county:
        raise CliError("give the device as COUNTY/DEVICE or use --county")
    else:
        c, d = county, text
    try:
        return county_code(c), device_id(d)
    except argparse.ArgumentTypeError as error:
        raise CliError(str(error)) from None


def add_devices(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="enroll kiosks; the fleet view")
    dsub = p.add_subparsers(dest="devices_action", required=True)
    code = dsub.add_parser("enroll-code", help="a one-time enrollment code (and its QR)")
    _db(code, create=True)
    code.add_argument("--county", required=True, type=county_code)
    code.add_argument("--township", required=True)
    code.add_argument("--service-point", help="default: {township}农产品质量安全服务点")
    code.add_argument(
        "--device", type=device_id, help="device id to give (default: next free K###)"
    )
    code.add_argument("--ttl-minutes", type=int, default=60)
    code.add_argument("--manual", action="store_true", help="a technician must approve")
    code.add_argument("--qr-png", type=Path, help="also write the QR as a PNG")
    code.add_argument("--json", action="store_true")
    svc = dsub.add_parser("enroll-service", help="answer enrollment requests (runs until stopped)")
    _db(svc, create=True)
    _key(svc)
    svc.add_argument("--county", required=True, type=county_code)
    add_broker_args(svc)
    svc.add_argument("--accounts", type=Path, required=True, help="make_acl.py accounts file")
    svc.add_argument("--acl", type=Path, required=True, help="broker ACL file to regenerate")
    svc.add_argument("--passwd", type=Path, required=True, help="broker password file")
    svc.add_argument("--reload-command", default="systemctl reload mosquitto")
    for name, helptext in (
        ("approve", "approve a pending request"),
        ("refuse", "refuse a pending request"),
    ):
        d = dsub.add_parser(name, help=helptext)
        _db(d)
        d.add_argument("request_id")
        d.add_argument("--reason", default="")
    pending = dsub.add_parser("pending", help="requests waiting for approval")
    _db(pending)
    listing = dsub.add_parser("list", help="every kiosk: last seen, versions, backlog, alarms")
    _db(listing)
    listing.add_argument("--county", type=county_code)
    listing.add_argument("--json", action="store_true")
    reg = dsub.add_parser(
        "register", help="trust a kiosk without enrollment (a lab bench, the simulation)"
    )
    _db(reg, create=True)
    reg.add_argument("device", help="COUNTY/DEVICE")
    reg.add_argument("--township", required=True)
    reg.add_argument("--service-point", help="default: {township}农产品质量安全服务点")
    reg.add_argument("--public-key", required=True, help="base64 Ed25519, from `kiosk keys`")
    show = dsub.add_parser("show", help="one kiosk in detail")
    _db(show)
    show.add_argument("device", help="COUNTY/DEVICE, or DEVICE with --county")
    show.add_argument("--county", type=county_code)
    p.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    from station import devices

    action = args.devices_action
    if action == "enroll-service":
        return _enroll_service(args)
    with Database(args.db) as db:
        if action == "enroll-code":
            point = args.service_point or f"{args.township}农产品质量安全服务点"
            code = devices.make_code(
                db,
                args.county,
                args.township,
                point,
                device_id=args.device,
                ttl=timedelta(minutes=args.ttl_minutes),
                auto_approve=not args.manual,
            )
            if args.qr_png:
                import segno

                # The code enrolls a kiosk: a secret until used, so 0600 like a key.
                png = io.BytesIO()
                segno.make(code.qr_text, error="m").save(png, kind="png", scale=8)
                atomic_write(args.qr_png, png.getvalue(), mode=PRIVATE)
            if args.json:
                print(
                    json.dumps(
                        {
                            "code": code.code,
                            "qr": code.qr_text,
                            "expires_at": code.expires_at.isoformat(),
                        }
                    )
                )
            else:
                import segno

                print(f"enrollment code for {args.county} {args.township}: {code.code}")
                print(f"valid until {code.expires_at:%Y-%m-%d %H:%M} UTC, once")
                segno.make(code.qr_text, error="m").terminal(compact=True)
            return EXIT_OK
        if action in ("approve", "refuse"):
            ok = devices.decide(db, args.request_id, action == "approve", args.reason)
            if not ok:
                print(f"no pending request {args.request_id}", file=sys.stderr)
                return EXIT_FAILED
            print(f"request {args.request_id} {action}d; the enrollment service answers it")
            return EXIT_OK
        if action == "pending":
            requests = devices.pending_requests(db)
            for r in requests:
                print(f"{r['id']}  {r['county']}  {r['hostname']}  {r['received_at']}")
            if not requests:
                print("no enrollment requests waiting for approval")
            return EXIT_OK
        if action == "list":
            rows = devices.fleet(db, args.county)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return EXIT_OK
            if not rows:
                print("no kiosks registered" + (f" in county {args.county}" if args.county else ""))
                return EXIT_OK
            print(
                f"{'device':<12} {'township':<10} {'status':<10} {'last seen':<26} "
                f"{'sw':<10} {'cfg':<5} {'backlog':>7}  alarms"
            )
            for r in rows:
                print(
                    f"{r['county']}/{r['device_id']:<5} {r['township'] or '-':<10} "
                    f"{r['status']:<10} {r['last_seen'] or '-':<26} "
                    f"{r['software_version'] or '-':<10} {r['config_version'] or '-':<5} "
                    f"{r['backlog'] if r['backlog'] is not None else '-':>7}  "
                    f"{','.join(r['open_alarms']) or '-'}"
                )
            return EXIT_OK
        if action == "register":
            return _register(db, args)
        county, device = _device(args.device, args.county)
        info = devices.show(db, county, device)
        if info is None:
            print(f"no device {county}/{device}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return EXIT_OK


def _register(db: Database, args: argparse.Namespace) -> int:
    from station import devices
    from wire.signing import decode_public_key

    try:
        county, device = _device(args.device, None)
        decode_public_key(args.public_key)
    except ValueError as error:
        print(f"station devices register: {error}", file=sys.stderr)
        return EXIT_USAGE
    point = args.service_point or f"{args.township}农产品质量安全服务点"
    devices.register_device(
        db, county, device, args.township, point, args.public_key, devices.now_utc()
    )
    if db.dialect.placeholder == "%s":  # PostgreSQL: statements run in a transaction
        db.conn.commit()
    print(f"{county}/{device} registered; its certificates verify on the county's pages")
    return EXIT_OK


def _enroll_service(args: argparse.Namespace) -> int:
    import shlex

    from station.enroll import BrokerAccounts, EnrollmentService

    key = _load_key(args.key)
    command = shlex.split(args.reload_command)
    accounts = BrokerAccounts(
        args.accounts,
        args.acl,
        args.passwd,
        reload=lambda: _run_reload(command),
        prefix=args.prefix,
    )
    # One enrollment service per county account: a stable id, its session kept.
    purpose = "enroll-service" if args.username else f"station-enroll-{args.county}"
    broker = settings_from_args(args, client_id=purpose)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with EnrollmentService(args.db, args.county, key, broker, accounts):
        done.wait()
    return EXIT_OK


def _load_key(path: Path) -> SigningKey:
    try:
        return SigningKey.load(path)
    except (OSError, KeyFileError) as error:
        raise CliError(f"county key: {error}", EXIT_USAGE) from None


def add_cmd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cmd", help="send a signed command to a kiosk and print its reply")
    _db(p)
    _key(p)
    add_broker_args(p)
    p.add_argument("device", help="COUNTY/DEVICE, or DEVICE with --county")
    p.add_argument(
        "name",
        help="diagnostics, test_print, reader_selftest, reader_calibrate, "
        "logs, rotate_keys, firmware_update, lift_hold, roster, restart",
    )
    p.add_argument("args", nargs="*", help="key=value (values parsed as JSON when they can be)")
    p.add_argument("--county", type=county_code)
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the reply (default: the command's own deadline, "
        "30 s for hardware commands, 10 s for the others)",
    )
    p.add_argument("--file", type=Path, help="firmware_update: image (with IMAGE.json beside)")
    p.set_defaults(handler=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from station import commands

    try:
        county, device = _device(args.device, args.county)
        cmd_args = commands.parse_args(args.args)
        check_command_args(args.name, cmd_args)
    except ValueError as error:
        raise CliError(str(error)) from None
    timeout = args.timeout if args.timeout is not None else reply_deadline_s(args.name)
    key = _load_key(args.key)
    broker = settings_from_args(args)
    try:
        with Database(args.db) as db, commands.CommandClient(broker, key, db) as client:
            if args.name == "firmware_update":
                if not args.file:
                    print("station cmd: firmware_update needs --file IMAGE", file=sys.stderr)
                    return EXIT_USAGE
                image, version, signature = commands.load_firmware(args.file)
                outcome = client.send_firmware(county, device, image, version, signature)
            else:
                outcome = client.send(county, device, args.name, cmd_args, timeout=timeout)
    except BrokerError as error:
        print(f"station cmd: {error}", file=sys.stderr)
        return EXIT_FAILED
    if outcome.reply is None:
        print(
            f"timeout: no reply from {county}/{device} within {timeout:.0f} s "
            "(offline? the command waits in its session until it expires)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(json.dumps(outcome.reply, ensure_ascii=False, indent=2))
    return EXIT_OK if outcome.status == "ok" else EXIT_FAILED


def add_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="push a signed configuration bundle")
    csub = p.add_subparsers(dest="config_action", required=True)
    push = csub.add_parser("push", help="to a device, a township, or the whole county")
    _db(push)
    _key(push)
    add_broker_args(push)
    push.add_argument("--county", required=True, type=county_code)
    target = push.add_mutually_exclusive_group()
    target.add_argument("--device")
    target.add_argument("--township")
    push.add_argument("file", type=Path, help="settings (TOML like kiosk.toml, or JSON)")
    p.set_defaults(handler=_config)


def _config(args: argparse.Namespace) -> int:
    from station.config_push import push, read_settings
    from wire.provisioning import check_settings

    try:
        settings = read_settings(args.file)
        check_settings(settings)
    except (OSError, ValueError) as error:
        print(f"station config: {args.file}: {error}", file=sys.stderr)
        return EXIT_USAGE
    key = _load_key(args.key)
    try:
        with Database(args.db) as db:
            version, targets = push(
                db,
                settings_from_args(args),
                key,
                args.county,
                settings,
                device=args.device,
                township=args.township,
            )
    except (ValueError, BrokerError) as error:
        print(f"station config: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"config version {version} published to {len(targets)} kiosk(s): {', '.join(targets)}")
    return EXIT_OK


def add_trust(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trust", help="the county signing key and trust list")
    tsub = p.add_subparsers(dest="trust_action", required=True)
    new = tsub.add_parser("new-key", help="make the county signing key (keep it offline)")
    new.add_argument("out", type=Path)
    pub = tsub.add_parser("publish", help="sign and publish the trust list (retained)")
    _db(pub)
    _key(pub)
    add_broker_args(pub)
    pub.add_argument("--county", required=True, type=county_code)
    show = tsub.add_parser("show", help="print a signed trust list without publishing")
    _db(show)
    _key(show)
    show.add_argument("--county", required=True, type=county_code)
    for sp in (pub, show):
        sp.add_argument(
            "--valid-days",
            type=float,
            default=30.0,
            help="the list expires this long after signing (default %(default)s; "
            "publish daily: docs/deploy/station/agriqs-station-trust.timer)",
        )
    p.set_defaults(handler=_trust)


def _trust(args: argparse.Namespace) -> int:
    from station import trustlist

    if args.trust_action == "new-key":
        if args.out.exists():
            print(f"{args.out} exists; refusing to overwrite a county key", file=sys.stderr)
            return EXIT_FAILED
        key = SigningKey.generate()
        key.save(args.out)
        print(f"county key {key.key_id}; public key (trust anchor): {key.public_b64}")
        return EXIT_OK
    key = _load_key(args.key)
    with Database(args.db) as db:
        if args.trust_action == "show":
            document = trustlist.signed_document(db, args.county, key, args.valid_days, spend=False)
            print(json.dumps(document, indent=2))
            return EXIT_OK
        try:
            version = trustlist.publish_trust(
                db, args.county, key, settings_from_args(args), args.valid_days
            )
        except (BrokerError, ValueError) as error:
            print(f"station trust: {error}", file=sys.stderr)
            return EXIT_FAILED
    print(f"trust list version {version} published for {args.county}")
    return EXIT_OK


def add_update(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="software rollout from the county (docs/fleet.md)")
    usub = p.add_subparsers(dest="update_action", required=True)
    push = usub.add_parser("push", help="canaries first; halts by itself on failures")
    _db(push)
    _key(push)
    add_broker_args(push)
    push.add_argument("bundle", type=Path, help="a signed bundle (deploy/make_bundle.py)")
    push.add_argument("--county", required=True, type=county_code)
    target = push.add_mutually_exclusive_group()
    target.add_argument("--device", action="append", help="one device (repeatable)")
    target.add_argument("--township")
    push.add_argument("--canaries", type=int, default=1, help="devices updated first")
    push.add_argument("--max-failures", type=int, default=1, help="halt at this many")
    push.add_argument("--health-timeout", type=float, default=900.0,
                      help="seconds for a device to report the new version")  # fmt: skip
    push.set_defaults(handler=_update_push)


def _update_push(args: argparse.Namespace) -> int:
    from station import commands, devices, rollout

    try:
        bundle = args.bundle.read_bytes()
        version = rollout.bundle_version(bundle)
    except (OSError, rollout.RolloutError) as error:
        raise CliError(f"update push: {error}") from None
    key = _load_key(args.key)
    broker = settings_from_args(args)
    try:
        with Database(args.db) as db, commands.CommandClient(broker, key, db) as client:
            targets = args.device or devices.devices_in(db, args.county, args.township)

            def send(device: str) -> tuple[bool, str]:
                outcome = client.send_software(args.county, device, bundle)
                if outcome.reply is None:
                    return False, "no reply (offline?)"
                return outcome.status == "ok", str(outcome.reply.get("reason", ""))

            def reported(device: str) -> str | None:
                row = devices.show(db, args.county, device) or {}
                db.conn.commit()  # a fresh snapshot at every poll
                return row.get("software_version")

            result = rollout.roll_out(
                send, rollout.wait_for_version(reported, args.health_timeout), targets,
                version, canaries=args.canaries, max_failures=args.max_failures,
            )  # fmt: skip
    except rollout.RolloutError as error:
        raise CliError(f"update push: {error}") from None
    except BrokerError as error:
        print(f"station update push: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result.__dict__, ensure_ascii=False, indent=2))
    return EXIT_OK if result.status == "done" and not result.failed else EXIT_FAILED


def add_certs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certs", help="the county's device CA: kiosk TLS client certificates")
    csub = p.add_subparsers(dest="certs_action", required=True)
    new = csub.add_parser("new-ca", help="a device CA (ca.crt, ca.key 0600) in --ca DIR")
    sign = csub.add_parser("sign", help="sign a kiosk's CSR for exactly COUNTY/DEVICE")
    sign.add_argument("csr", type=Path)
    sign.add_argument("--device", required=True)
    sign.add_argument("--days", type=int, default=365)
    sign.add_argument("--out", type=Path, required=True)
    revoke = csub.add_parser("revoke", help="list a certificate in the CRL (crl.pem)")
    revoke.add_argument("cert", type=Path)
    for each in (new, sign, revoke):
        each.add_argument("--ca", type=Path, required=True, help="the CA directory")
        each.add_argument("--county", required=True, type=county_code)
    p.set_defaults(handler=_certs)


def _certs(args: argparse.Namespace) -> int:
    """CA files: ca.crt, ca.key (0600), revoked.json, crl.pem (the broker's crlfile)."""
    from wire import devicecert
    from wire.files import PRIVATE, PUBLIC, atomic_write

    now = datetime.now(UTC)
    ca_dir: Path = args.ca
    try:
        if args.certs_action == "new-ca":
            if (ca_dir / "ca.key").exists():
                raise CliError(f"{ca_dir / 'ca.key'} exists; a new CA would orphan every kiosk")
            cert, key = devicecert.new_device_ca(args.county, now)
            ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(ca_dir / "ca.key", key, mode=PRIVATE)
            atomic_write(ca_dir / "ca.crt", cert, mode=PUBLIC)
            atomic_write(ca_dir / "crl.pem", devicecert.make_crl(cert, key, [], now), mode=PUBLIC)
            print(ca_dir / "ca.crt")
            return EXIT_OK
        cert, key = (ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()
        if args.certs_action == "sign":
            signed = devicecert.sign_request(
                args.csr.read_bytes(), cert, key, args.county, args.device, now, days=args.days
            )
            atomic_write(args.out, signed, mode=PUBLIC)
            print(f"{args.out}: {args.county}/{args.device} serial {devicecert.serial_of(signed)}")
            return EXIT_OK
        listed_path = ca_dir / "revoked.json"
        listed = json.loads(listed_path.read_text()) if listed_path.exists() else []
        serial = devicecert.serial_of(args.cert.read_bytes())
        if all(entry["serial"] != str(serial) for entry in listed):
            listed.append({"serial": str(serial), "at": now.isoformat()})
        revoked = [(int(e["serial"]), datetime.fromisoformat(e["at"])) for e in listed]
        atomic_write(listed_path, json.dumps(listed, indent=1).encode(), mode=PUBLIC)
        atomic_write(ca_dir / "crl.pem", devicecert.make_crl(cert, key, revoked, now), mode=PUBLIC)
        print(f"serial {serial} revoked; reload the broker to read {ca_dir / 'crl.pem'}")
        return EXIT_OK
    except (OSError, ValueError) as error:
        raise CliError(f"certs: {error}") from None


def add_diag(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diag", help="a kiosk's diagnostics bundle (docs/fleet.md)")
    dsub = p.add_subparsers(dest="diag_action", required=True)
    fetch = dsub.add_parser("fetch", help="ask for it, receive it in chunks, keep it (0600)")
    _db(fetch)
    _key(fetch)
    add_broker_args(fetch)
    fetch.add_argument("device", help="COUNTY/DEVICE, or DEVICE with --county")
    fetch.add_argument("--county", type=county_code)
    fetch.add_argument("--out", type=Path, default=Path("diagnostics"), help="directory")
    fetch.set_defaults(handler=_diag_fetch)


def _diag_fetch(args: argparse.Namespace) -> int:
    from station import commands
    from wire.files import PRIVATE, atomic_write

    try:
        county, device = _device(args.device, args.county)
    except ValueError as error:
        raise CliError(str(error)) from None
    key = _load_key(args.key)
    broker = settings_from_args(args)
    try:
        with Database(args.db) as db, commands.CommandClient(broker, key, db) as client:
            data, outcome = client.fetch_diagnostics(county, device)
    except BrokerError as error:
        print(f"station diag fetch: {error}", file=sys.stderr)
        return EXIT_FAILED
    if data is None:
        reason = (outcome.reply or {}).get("reason", "no reply (offline?)")
        print(f"station diag fetch: {county}/{device}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    args.out.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{county}-{device}-{stamp}.tar.gz"
    atomic_write(path, data, mode=PRIVATE)  # logs can name people
    print(f"{path} ({len(data)} bytes)")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    for add in (add_devices, add_cmd, add_config, add_trust, add_update, add_certs, add_diag):
        add(sub)


def _run_reload(command: list[str]) -> None:
    """Tell the broker to re-read its password file and ACL (e.g. systemctl reload)."""
    subprocess.run(command, check=True)
