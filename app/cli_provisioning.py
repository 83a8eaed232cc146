"""Provisioning on the kiosk's command line: ``kiosk enroll CODE``, ``kiosk config
show|apply FILE``, ``kiosk audit verify|list``. The configuration layers themselves
are read by ``kiosk.config.effective_config``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig, effective_config, managed_version, simulated_parts
from wire.cli import positive_int

COMMANDS = ("enroll", "config", "audit", "cert")
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


# ---- command line ------------------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    enroll = subparsers.add_parser("enroll", help="enroll this kiosk with a county code")
    enroll.add_argument("code", help="the code (XXXX-XXXX-XXXX) or the scanned QR text")
    enroll.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    enroll.add_argument("--json", action="store_true")

    cfg = subparsers.add_parser("config", help="the configuration in force; apply a bundle")
    cfg_sub = cfg.add_subparsers(dest="config_action", required=True)
    show = cfg_sub.add_parser("show", help="effective configuration and bundle version")
    show.add_argument("--json", action="store_true")
    apply = cfg_sub.add_parser("apply", help="apply a signed bundle file (from a USB stick)")
    apply.add_argument("file", type=Path)

    cert = subparsers.add_parser("cert", help="the TLS client certificate (docs/fleet.md)")
    cert_sub = cert.add_subparsers(dest="cert_action", required=True)
    cert_sub.add_parser("request", help="make the key (kept here, 0600) and a CSR to sign")
    cert_sub.add_parser("install", help="use the county-signed certificate").add_argument(
        "file", type=Path
    )

    audit = subparsers.add_parser("audit", help="the hash-chained audit log")
    audit_sub = audit.add_subparsers(dest="audit_action", required=True)
    verify = audit_sub.add_parser("verify", help="check the whole chain")
    verify.add_argument("--json", action="store_true")
    listing = audit_sub.add_parser("list", help="newest entries")
    listing.add_argument("--kind")
    listing.add_argument("--limit", type=positive_int, default=50)
    listing.add_argument("--json", action="store_true")


def run_command(args: argparse.Namespace, config: KioskConfig) -> int | None:
    """Run a provisioning command; None when ``args.command`` is not one of ours."""
    if args.command not in COMMANDS:
        return None
    if args.command == "audit":
        return _audit(args, config)
    if args.command == "config" and args.config_action == "show":
        return _config_show(args, config)
    # Here: enrollment pulls in the MQTT client and the provisioning stack, which
    # `kiosk run` and the other commands never need before their first frame or answer.
    from app import cli_enroll

    return cli_enroll.run_command(args, config)


def _config_show(args: argparse.Namespace, config: KioskConfig) -> int:
    effective = effective_config(config)
    version = managed_version(config.paths.data_dir)
    config_data = effective.model_dump(mode="json")
    simulated = simulated_parts(effective)
    data = {
        "config_version": version,
        "simulation": effective.device.simulation,
        "simulated_parts": simulated,
        "config": config_data,
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        device = effective.device
        print(f"device {device.county}/{device.device_id} ({device.township})")
        print(f"config version {version}")
        if effective.device.simulation:
            print(f"SIMULATION (演示): simulated {', '.join(simulated) or 'nothing'}")
        for section, values in config_data.items():
            print(f"[{section}] {json.dumps(values, ensure_ascii=False)}")
    return EXIT_OK


def _audit(args: argparse.Namespace, config: KioskConfig) -> int:
    from kiosk.infra.audit import AuditLog
    from kiosk.infra.store import Store
    from wire.clock import CST

    def now() -> Any:
        from datetime import datetime

        return datetime.now(CST)

    with Store(config.paths.database) as store:
        log = AuditLog(store, now)
        if args.audit_action == "verify":
            report = log.verify()
            data = {
                "ok": report.ok,
                "rows": report.rows,
                "head": report.head,
                "first_bad_seq": report.first_bad_seq,
                "problem": report.problem,
            }
            if args.json:
                print(json.dumps(data, indent=2))
            elif report.ok:
                print(f"audit log intact: {report.rows} entries, head {report.head[:16]}")
            else:
                print(f"audit log TAMPERED: {report.problem}", file=sys.stderr)
            return EXIT_OK if report.ok else EXIT_REFUSED
        entries = log.entries(kind=args.kind, limit=args.limit)
        if args.json:
            print(json.dumps([e.__dict__ for e in entries], ensure_ascii=False, indent=2))
        elif not entries:
            print("no audit entries" + (f" of kind {args.kind}" if args.kind else ""))
        else:
            for e in entries:
                print(f"{e.seq:>6}  {e.at}  {e.kind:<22} {json.dumps(e.data, ensure_ascii=False)}")
        return EXIT_OK
