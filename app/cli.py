"""``kiosk``: the kiosk's command line (headless issuance, verification, records).

Exit codes: 0 done; 1 refused or invalid (the message says why); 2 bad usage or
configuration; 3 recorded but not printed (reprint or void it later); 4 reader failure.
Every error is one line on stderr (``wire/cli.py`` is the boundary); global options
(``--config``, ``--data-dir``, ``-v``) go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import io
import json
import logging
import os
import pwd
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from app import cli_provisioning, cli_reader
from drivers.fonts import FontMissingError
from drivers.printer.base import PrinterError
from drivers.printer.profiles import UnknownProfileError
from drivers.printer.transports import TransportError
from kiosk.config import ConfigError, effective_config, load_config
from kiosk.domain.catalogue import OutOfScopeError, ProductNotFound
from kiosk.domain.model import Basis, CertificateRequest, CertificateStatus, Issuer, Style
from kiosk.domain.validation import InputError, parse_quantity
from kiosk.infra.store import StoreError
from kiosk.services.issuance import CertificateNotFound, IssuanceRefused, PrintOutcome
from kiosk.services.kiosk import Kiosk
from kiosk.services.sources import expiry_refusal
from kiosk.services.staff import ROLES, PinError
from readerlink.errors import LinkError
from wire.cli import (
    CliError,
    CliParser,
    ErrorMap,
    configure_logging,
    day,
    day_start,
    input_file,
    output_file,
    positive_int,
    run_cli,
    share_options,
)
from wire.clock import CST
from wire.files import PRIVATE, LockHeld, atomic_write
from wire.signing import KeyFileError, decode_public_key
from wire.trust import TrustListError
from wire.verify import verify_qr_text

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NOT_PRINTED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="kiosk", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML configuration (default: simulation)")
    parser.add_argument("--data-dir", type=Path, help="override paths.data_dir")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)

    issue = sub.add_parser("issue", help="issue and print a certificate")
    issue.add_argument("--issuer", required=True, help="承诺主体 name")
    issue.add_argument("--phone", required=True)
    issue.add_argument(
        "--producer-id", help="the producer: id, card code (AQP2:...), 主体码 or ID number"
    )
    issue.add_argument("--product", required=True, help="catalogue code or Chinese name")
    issue.add_argument("--quantity", required=True)
    issue.add_argument("--unit", help="default: the product's default unit")
    issue.add_argument("--origin", required=True)
    issue.add_argument("--basis", choices=[b.value for b in Basis], default="quality_control")
    issue.add_argument("--test-ref", help="rapid-test id or lab report number")
    issue.add_argument("--lab", help="委托检测合格: the testing laboratory's name")
    issue.add_argument("--quarantine-cert", help="畜禽: the 动物检疫合格证明 number")
    issue.add_argument(
        "--ear-tag", action="append", default=[], help="肉牛: an ear tag (repeat for each)"
    )
    issue.add_argument("--inputs", default="", help="comma-separated input classes used")
    issue.add_argument("--style", choices=[s.value for s in Style], default="style1")
    issue.add_argument(
        "--source-certificate", help="样式二: a source certificate of this kiosk, by number"
    )
    issue.add_argument(
        "--source",
        action="append",
        default=[],
        help="样式二: a source certificate's scanned QR text (repeat for 混装)",
    )
    issue.add_argument("--copies", type=positive_int, default=None)
    issue.add_argument("--json", action="store_true")

    verify = sub.add_parser("verify", help="verify a certificate QR text offline")
    verify.add_argument("qr_text")
    verify.add_argument("--trust", type=Path, help="signed trust list (JSON)")
    verify.add_argument(
        "--anchor", action="append", default=[], type=_anchor, help="county public key (b64)"
    )
    verify.add_argument("--json", action="store_true")

    reprint = sub.add_parser("reprint", help="print a certificate again, marked 补打")
    reprint.add_argument("number")
    reprint.add_argument("--copies", type=positive_int, default=1)
    reprint.add_argument("--json", action="store_true")

    void = sub.add_parser("void", help="void a certificate; its number is never reused")
    void.add_argument("number")
    void.add_argument("--reason", required=True)
    void.add_argument("--json", action="store_true")

    certs = sub.add_parser("certificates", help="list, show or export certificates")
    certs_sub = certs.add_subparsers(dest="action")
    listing = certs_sub.add_parser("list")
    listing.add_argument("--status", choices=[s.value for s in CertificateStatus])
    listing.add_argument("--limit", type=positive_int, default=50)
    listing.add_argument("--json", action="store_true")
    show = certs_sub.add_parser("show")
    show.add_argument("number")
    show.add_argument("--png", type=output_file, help="write the label image here")
    show.add_argument("--json", action="store_true")
    export = certs_sub.add_parser("export", help="CSV of certificates issued in a period")
    export.add_argument("--since", type=day, help="YYYY-MM-DD: from this day on (China time)")
    export.add_argument(
        "--until", type=day, help="YYYY-MM-DD, exclusive: up to the start of this day"
    )
    export.add_argument("--out", type=output_file, help="file (default: standard output)")

    backup = sub.add_parser("backup", help="online backups of the database (docs/deploy.md)")
    backup_sub = backup.add_subparsers(dest="action", required=True)
    now = backup_sub.add_parser("now", help="back up now, locally and to a mounted stick")
    now.add_argument("--no-usb", action="store_true")
    backup_sub.add_parser("list")
    backup_sub.add_parser("verify").add_argument("file", type=Path)
    restore = backup_sub.add_parser("restore", help="stop the kiosk services first")
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--from-other-device", action="store_true",
        help="accept a backup signed by another kiosk's key (the county is told)",
    )  # fmt: skip
    restore.add_argument(
        "--recovery-key", type=Path,
        help="the county's private recovery key: puts back the PIN hashes of a USB copy",
    )  # fmt: skip
    restore.add_argument(
        "--county-floors", type=_county_floors, metavar="COUNTY/DEVICE:CERTIFICATE:EVENT",
        help="this kiosk's highest certificate and event numbers at the county (station "
        "devices show); required for another key's backup (a new card) or a card whose "
        "counters are lost",
    )  # fmt: skip
    backup_sub.add_parser(
        "recovery-key", help="make the county's recovery key pair: private key to FILE"
    ).add_argument("private_file", type=Path)

    update = sub.add_parser(
        "update",
        help="software update from a signed bundle",
        description="Paths come from the configuration: paths.install_root, "
        "paths.release_keys, paths.update_state and {paths.data_dir}/update (docs/deploy.md).",
    )
    update.add_argument("--restart", help="command that restarts the kiosk services")
    update.add_argument("--health-timeout", type=float, help="seconds to wait for health")
    update_sub = update.add_subparsers(dest="update_action", required=True)
    apply = update_sub.add_parser("apply", help="install, switch, roll back if unhealthy")
    apply.add_argument("bundle", type=input_file)
    apply.add_argument("--rollback", type=input_file, help="signed permission for a downgrade")
    update_sub.add_parser("apply-incoming", help="the bundle waiting in update/incoming/")
    update_sub.add_parser("status", help="the active version and the last result")
    update_sub.add_parser("recover", help="finish or undo an interrupted update")

    sub.add_parser("agent", help="send events to the county (uplink); runs until stopped")

    cli_reader.add_commands(sub)
    cli_provisioning.add_commands(sub)

    staff = sub.add_parser("staff", help="staff and technician accounts (one per person)")
    staff_sub = staff.add_subparsers(dest="action", required=True)
    add = staff_sub.add_parser("add", help="a new account; the PIN is read from the terminal")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    staff_sub.add_parser("set-pin", help="a new PIN, read from the terminal or stdin").add_argument(
        "name"
    )
    staff_sub.add_parser("disable", help="the account can no longer log in").add_argument("name")
    staff_sub.add_parser("enable", help="log in again with its PIN").add_argument("name")
    staff_sub.add_parser("list").add_argument("--json", action="store_true")

    producers = sub.add_parser("producers", help="producer identities (docs/certificates.md §2)")
    producers_sub = producers.add_subparsers(dest="action", required=True)
    bind = producers_sub.add_parser("bind", help="attach a new phone, 主体码 or ID number")
    bind.add_argument("producer", help="producer id, card code, 主体码 or ID number")
    bind.add_argument("--phone")
    bind.add_argument("--platform-code", help="the national 主体码")
    bind.add_argument("--id-number", help="身份证号 or 统一社会信用代码")

    sub.add_parser("run", help="start the touchscreen kiosk")

    keys = sub.add_parser("keys", help="this kiosk's certificate-signing public key")
    keys.add_argument("--json", action="store_true")

    clock = sub.add_parser("time", help="whether the clock may date a certificate (docs/fleet.md)")
    clock.add_argument("--json", action="store_true")
    share_options(parser, ("config", "data_dir", "verbose"))
    return parser


def _anchor(text: str) -> bytes:
    try:
        return decode_public_key(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: not a county public key ({error})") from None


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text)


def _outcome(outcome: PrintOutcome) -> tuple[dict[str, Any], str, int]:
    cert = outcome.certificate
    data: dict[str, Any] = {
        "number": cert.number,
        "qr_text": cert.qr_text,
        "status": cert.status.value,
        "printed": outcome.printed,
        "copies_requested": outcome.copies_requested,
        "copies_done": outcome.copies_done,
        "error": None,
    }
    if outcome.error:
        data["error"] = {"fault": outcome.error.fault.value, "message": str(outcome.error)}
        text = (
            f"{cert.number}: recorded, NOT printed ({outcome.error}); "
            f"copies done {outcome.copies_done}/{outcome.copies_requested}. "
            f"Fix the printer, then `kiosk reprint {cert.number}` or `kiosk void`."
        )
        return data, text, EXIT_NOT_PRINTED
    return data, f"{cert.number}: printed {outcome.copies_done} copies\n{cert.qr_text}", EXIT_OK


def _product_code(kiosk: Any, text: str) -> str:
    """A product typed as code, name, pinyin, initials or English; refusals suggest."""
    try:
        return str(kiosk.catalogue.find(text).code)
    except ProductNotFound as error:
        raise InputError("product", "unknown", error.message) from None


def _verify(args: argparse.Namespace, kiosk: Any) -> int:
    anchors = list(args.anchor) or None
    trust = kiosk.trust_list(args.trust, anchors)
    now = kiosk.clock()
    verdict = verify_qr_text(args.qr_text, trust, now)
    fields = None
    valid, reason, message = verdict.valid, verdict.reason.value, verdict.message
    if verdict.fields is not None:
        fields = {**verdict.fields.__dict__, "issued_at": verdict.fields.issued_at.isoformat()}
        days = kiosk.config.certificate.valid_days
        expired = expiry_refusal(verdict.fields.issued_at, now, days)
        if valid and expired and not verdict.fields.is_slip:
            # genuine, but it no longer stands (the county's scan page says 已过期)
            valid, reason, message = False, "expired", f"合格证{verdict.fields.number}{expired}"
    _emit(
        args,
        {"valid": valid, "reason": reason, "message": message, "fields": fields},
        f"{'VALID' if valid else 'INVALID'} ({reason}): {message}",
    )
    return EXIT_OK if valid else EXIT_REFUSED


def _run(args: argparse.Namespace) -> int:
    # Imported after parsing, so that `--help` stays instant.
    from app.compose import (
        attach_inputs,
        attach_reader,
        hardware_desk,
        open_kiosk,
        seed_demo_accounts,
    )

    config = load_config(args.config, data_dir=args.data_dir)
    if args.command == "update":
        return _update(args, config)
    handled = cli_provisioning.run_command(args, config)  # needs the installed file
    if handled is not None:
        return handled
    if args.command == "agent":  # layers the managed config itself
        from app.agent import run as run_agent

        return run_agent(config)
    if args.command == "backup":
        # Before open_kiosk: a restore refuses while anyone has the database open.
        return _backup(args, effective_config(config))
    config = effective_config(config)
    with open_kiosk(config, defer_printer=args.command != "run") as kiosk:
        if args.command in cli_reader.COMMANDS:
            if args.command == "reader" or getattr(args, "test_action", None) == "run":
                attach_reader(kiosk)
            return cli_reader.run_command(args, kiosk)
        service = kiosk.issuance
        if args.command == "issue":
            product = _product_code(kiosk, args.product)
            request = CertificateRequest(
                issuer=Issuer(args.issuer, args.phone, args.producer_id),
                product_code=product,
                quantity=parse_quantity(args.quantity),
                unit=kiosk.catalogue.unit_for(kiosk.catalogue.products[product], args.unit),
                origin=args.origin,
                basis=Basis(args.basis),
                style=Style(args.style),
                inputs_used=tuple(x.strip() for x in args.inputs.split(",") if x.strip()),
                test_ref=args.test_ref,
                source_certificate=args.source_certificate,
                copies=args.copies or config.certificate.copies_default,
                lab_name=args.lab,
                sources=tuple(args.source),
                quarantine_cert=args.quarantine_cert,
                ear_tags=tuple(args.ear_tag),
            )
            data, text, code = _outcome(service.issue(request, by=cli_user()))
            _emit(args, data, text)
            return code
        if args.command == "verify":
            return _verify(args, kiosk)
        if args.command == "run":
            attach_inputs(kiosk)
            from kiosk.infra.watchdog import Watchdog
            from ui.loop import run as run_touch_ui  # pygame only in the process that shows it

            seed_demo_accounts(kiosk)
            return run_touch_ui(
                kiosk,
                hardware_desk(kiosk),
                Watchdog(),
                open_reader=lambda services: attach_reader(services, required=False),
            )
        if args.command == "reprint":
            data, text, code = _outcome(service.reprint(args.number, args.copies))
            _emit(args, {**data, "reprint": True}, text)
            return code
        if args.command == "void":
            cert = service.void(args.number, args.reason, by=cli_user())
            _emit(args, {"number": cert.number, "status": cert.status.value},
                  f"{cert.number}: voided")  # fmt: skip
            return EXIT_OK
        if args.command == "producers":
            found = kiosk.producers.find(args.producer)
            if found is None:
                raise InputError("producer", "unknown_producer", "没有这个生产者")
            bound = kiosk.producers.bind(
                found.producer_id,
                phone=args.phone,
                platform_code=args.platform_code,
                id_number=args.id_number,
            )
            kiosk.audit.append(
                "producer.bound",
                {"producer_id": bound.producer_id, "phone": bool(args.phone),
                 "platform_code": bool(args.platform_code), "id_number": bool(args.id_number)},
            )  # fmt: skip
            print(f"{bound.producer_id}: {bound.name} {bound.phone}")
            return EXIT_OK
        if args.command == "staff":
            return _staff(args, kiosk)
        if args.command == "time":
            return _time_status(args, kiosk)
        if args.command == "keys":
            device = config.device
            key = kiosk.signer
            _emit(args, {"device_id": device.device_id, "county": device.county,
                         "public_key": key.public_b64, "key_id": key.key_id},
                  f"{device.county}-{device.device_id} {key.public_b64}")  # fmt: skip
            return EXIT_OK
        return _certificates(args, kiosk)


def _time_status(args: argparse.Namespace, kiosk: Kiosk) -> int:
    """``kiosk time``: the verdict, the floor, the OS's answer and the last beacon; exit 1
    when the kiosk would refuse to issue (it also raises or clears alarm ``clock``)."""
    judge = kiosk.issuance.time_trust
    if judge is None:
        print("no time check configured", file=sys.stderr)
        return EXIT_USAGE
    now = kiosk.clock()
    verdict = judge.assess(now)
    refusal = kiosk.issuance.clock_refusal()
    status = judge.clock_status()
    floor = judge.floor()
    state = judge.state()
    data = {
        "trusted": verdict.trusted, "code": verdict.code, "source": verdict.source,
        "detail": verdict.detail, "now": now.isoformat(),
        "floor": floor.isoformat() if floor else None,
        "synchronized": status.synchronized, "rtc": status.rtc, "sync": status.source,
        "beacon": state.get("beacon"),
    }  # fmt: skip
    lines = [
        ("可以开证" if verdict.trusted else _refusal(refusal) if refusal else verdict.message()),
        f"now {now.isoformat()}  floor {data['floor']}",
        f"sync {status.source}: synchronized={status.synchronized} rtc={status.rtc}",
        f"beacon {state.get('beacon')}",
    ]
    _emit(args, data, "\n".join(lines))
    return EXIT_OK if verdict.trusted else 1


def _update(args: argparse.Namespace, config: Any) -> int:
    """``kiosk update`` over the configured paths (kiosk/infra/update.py does the work)."""
    from kiosk.infra import update

    paths = config.paths
    argv = ["--root", str(paths.install_dir), "--state-dir", str(paths.update_state_dir),
            "--report-dir", str(paths.update_dir),
            "--keys", str(paths.release_keys_dir)]  # fmt: skip
    if args.restart:
        argv += ["--restart", args.restart]
    if args.health_timeout is not None:
        argv += ["--health-timeout", str(args.health_timeout)]
    argv.append(args.update_action)
    if args.update_action == "apply":
        argv.append(str(args.bundle))
        if args.rollback:
            argv += ["--rollback", str(args.rollback)]
    return update.main(argv)


def _backup(args: argparse.Namespace, config: Any) -> int:
    from kiosk.infra import backup

    try:
        if args.action == "now":
            run = backup.backup_now(config, usb=[] if args.no_usb else None)
            print(f"local: {run.local}")
            for copy in run.usb:
                print(f"usb: {copy}")
            for error in run.errors:
                print(f"error: {error}", file=sys.stderr)
            return EXIT_REFUSED if run.errors else EXIT_OK
        if args.action == "list":
            paths = backup.list_backups(backup.local_dir(config))
            for path in paths:
                print(backup.describe(backup.inspect_backup(path)))
            if not paths:
                print(f"no backups in {backup.local_dir(config)}")
            return EXIT_OK
        if args.action == "verify":
            print(backup.describe(backup.inspect_backup(args.file)))
            return EXIT_OK
        if args.action == "recovery-key":
            from wire.sealed import new_recovery_key

            public = new_recovery_key(args.private_file)
            print(base64.b64encode(public).decode("ascii"))
            print(f"private key written to {args.private_file}: keep it at the county, "
                  "put the line above in [backup] recovery_key", file=sys.stderr)  # fmt: skip
            return EXIT_OK
        county_floors: tuple[int, int] | None = None
        if args.county_floors is not None:
            kiosk, certificate, event = args.county_floors
            county_floors = (certificate, event)
            own = f"{config.device.county}/{config.device.device_id}"
            if kiosk != own:
                raise backup.BackupError(
                    f"--county-floors are {kiosk}'s figures, and this kiosk is {own}: "
                    f"run station devices show {own} at the county"
                )
        result = backup.restore_backup(
            args.file, config.paths.data_dir, allow_foreign=args.from_other_device,
            recovery_key=args.recovery_key,
            county_floors=county_floors,
        )  # fmt: skip
        print(
            f"restored from {result.restored_from}; previous database kept in "
            f"{result.set_aside}; numbers continue above {result.floor}"
        )
        return EXIT_OK
    except backup.BackupError as error:
        print(f"backup: {error}", file=sys.stderr)
        return EXIT_REFUSED


def _county_floors(text: str) -> tuple[str, int, int]:
    """``COUNTY/DEVICE:CERTIFICATE:EVENT`` as ``station devices show`` prints it: the
    kiosk they belong to (checked against this one's configuration, since another
    kiosk's lower figures would silently reuse numbers), then two integers."""
    try:
        kiosk, certificate, event = text.split(":")
        figures = int(certificate), int(event)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected COUNTY/DEVICE:CERTIFICATE:EVENT (station devices show)"
        ) from None
    if "/" not in kiosk:
        raise argparse.ArgumentTypeError(f"{text!r}: expected COUNTY/DEVICE first")
    return kiosk, *figures  # their range is restore_backup's to check


def cli_user() -> str:
    """Who runs a command, for the audit chain (the Unix account, not $USER)."""
    return f"cli:{pwd.getpwuid(os.getuid()).pw_name}"


def _read_pin(prompt: str) -> str | None:
    """A PIN never travels on the command line, where `ps` and shell history would keep it."""
    if sys.stdin.isatty():
        pin = getpass.getpass(f"{prompt} (6-12 digits): ")
        if getpass.getpass("again: ") != pin:
            print("refused: the two PINs differ", file=sys.stderr)
            return None
        return pin
    return sys.stdin.readline().strip()


def _staff(args: argparse.Namespace, kiosk: Any) -> int:
    staff = kiosk.staff
    if args.action == "list":
        members = staff.members(active_only=False)
        _emit(
            args,
            {"accounts": [{"name": m.name, "role": m.role, "active": m.active,
                           "source": m.source} for m in members]},
            "\n".join(f"{m.name}\t{m.role}\t{'active' if m.active else 'disabled'}"
                      for m in members) or "no accounts",
        )  # fmt: skip
        return EXIT_OK
    try:
        if args.action in ("add", "set-pin"):
            pin = _read_pin(f"PIN for {args.name}")
            if pin is None:
                return EXIT_REFUSED
            if args.action == "add":
                staff.add(args.name, args.role, pin, by=cli_user())
                print(f"{args.role} account {args.name} added")
            else:
                staff.set_pin(args.name, pin, by=cli_user())
                print(f"PIN of {args.name} set")
        else:
            staff.set_active(args.name, args.action == "enable", by=cli_user())
            print(f"{args.name} {args.action}d")
    except PinError as error:
        print(f"refused: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def _certificates(args: argparse.Namespace, kiosk: Any) -> int:
    service = kiosk.issuance
    action = args.action or "list"
    if action == "show":
        cert = service.get(args.number)
        if args.png:
            from drivers.fonts import find_cjk_font
            from drivers.printer.render import render_label

            image = render_label(service.layout(cert), find_cjk_font(kiosk.config.fonts.cjk))
            png = io.BytesIO()
            image.save(png, format="PNG")
            atomic_write(Path(args.png), png.getvalue(), mode=PRIVATE)  # a farmer's label
        _emit(args, _summary(cert), _line(cert))
        return EXIT_OK
    if action == "export":
        since, until = day_start(args.since, CST), day_start(args.until, CST)
        if since and until and until <= since:
            raise CliError(f"--until {args.until} is not after --since {args.since}")
        certs = service.list(since=since, until=until)
        certs.reverse()
        if args.out:
            # Names and phones: owner only, whatever the umask; no symlink followed.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            fd = os.open(args.out, flags, 0o600)
            os.fchmod(fd, 0o600)
            with open(fd, "w", encoding="utf-8-sig", newline="") as out:
                count = service.export_csv(out, certs)
            print(f"{count} certificates written to {args.out}", file=sys.stderr)
        else:
            service.export_csv(sys.stdout, certs)
        return EXIT_OK
    status = CertificateStatus(args.status) if getattr(args, "status", None) else None
    certs = service.list(status=status, limit=getattr(args, "limit", 50))
    if getattr(args, "json", False):
        print(json.dumps([_summary(c) for c in certs], ensure_ascii=False, indent=2))
    elif not certs:
        which = f" {status.value}" if status else ""
        print(f"no{which} certificates", file=sys.stderr)
    else:
        for cert in certs:
            print(_line(cert))
    return EXIT_OK


def _summary(cert: Any) -> dict[str, Any]:
    return {
        "number": cert.number,
        "issued_at": cert.issued_at.isoformat(),
        "status": cert.status.value,
        "product": cert.product_name,
        "quantity": f"{Decimal(cert.quantity).normalize():f}",
        "unit": cert.unit,
        "issuer": cert.issuer.name,
        "print_count": cert.print_count,
        "qr_text": cert.qr_text,
    }


def _line(cert: Any) -> str:
    return (
        f"{cert.number}  {cert.issued_at:%Y-%m-%d %H:%M}  {cert.status.value:<7}  "
        f"{cert.product_name} {cert.quantity_text}  {cert.issuer.name}  x{cert.print_count}"
    )


def _refusal(error: BaseException) -> str:
    """An issuance refusal in Chinese, and in English when the kiosk has a translation."""
    zh = getattr(error, "message", str(error))
    en = getattr(error, "message_en", zh)
    return zh if en == zh else f"{zh} / {en}"


#: Domain errors and the one line (prefix + message) and exit code each becomes.
ERRORS: ErrorMap = [
    (ConfigError, EXIT_USAGE, "configuration error: "),
    (InputError, EXIT_REFUSED, "refused: "),
    (IssuanceRefused, EXIT_REFUSED, lambda e: f"refused: {_refusal(e)}"),
    ((OutOfScopeError, PinError), EXIT_REFUSED, "refused: "),
    (CertificateNotFound, EXIT_REFUSED, "not found: "),
    (TrustListError, EXIT_USAGE, "trust list: "),
    (KeyFileError, EXIT_USAGE, "key file: "),
    (PrinterError, EXIT_NOT_PRINTED, "printer: "),
    (LinkError, cli_reader.EXIT_READER, "reader: "),
    (StoreError, EXIT_REFUSED, "database: "),
    ((FontMissingError, UnknownProfileError), EXIT_USAGE, "configuration error: "),
    (TransportError, EXIT_NOT_PRINTED, "printer: "),
    (LockHeld, EXIT_REFUSED, ""),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    service = args.command in ("agent", "run")
    configure_logging("kiosk", verbose=args.verbose, service=service, level=logging.WARNING)
    return run_cli("kiosk", lambda: _run(args), ERRORS, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
