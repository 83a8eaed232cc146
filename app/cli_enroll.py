"""The provisioning half of the kiosk CLI (``kiosk enroll``, ``kiosk config apply``).

app/cli_provisioning.py parses the arguments and reaches this through the
``agriqs.provisioning`` entry point (kiosk/ never imports provisioning/).
"""

from __future__ import annotations

import argparse
import json
import sys

from kiosk.config import KioskConfig
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from provisioning.configs import ConfigManager, ConfigRefused
from provisioning.enroll import (
    EnrollError,
    enroll,
    install_client_certificate,
    request_client_certificate,
)
from wire.clock import china_time

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def run_command(args: argparse.Namespace, config: KioskConfig) -> int:
    """``config`` is the installed configuration (before the managed layers)."""
    if args.command == "enroll":
        try:
            done = enroll(config, args.code, timeout_s=args.timeout)
        except EnrollError as error:
            print(f"enroll: {error}", file=sys.stderr)
            return EXIT_REFUSED
        data = done.__dict__
        if getattr(args, "json", False):
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            print(
                f"enrolled as {done.county}/{done.device_id} ({done.township}, "
                f"{done.service_point}); restart the kiosk services"
            )
        return EXIT_OK
    if args.command == "cert":
        try:
            if args.cert_action == "request":
                print(request_client_certificate(config))
            else:
                path = install_client_certificate(config, args.file.read_bytes())
                print(f"{path} installed; restart the kiosk services")
        except (EnrollError, OSError) as error:
            print(f"cert: {error}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK
    if args.command == "config" and args.config_action == "apply":
        try:
            document = json.loads(args.file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            print(f"config apply: {args.file}: {error}", file=sys.stderr)
            return EXIT_USAGE
        with Store(config.paths.database) as store:
            manager = ConfigManager(config, store, AuditLog(store, china_time), china_time)
            manager.recover()
            try:
                result = manager.apply_document(document)
            except ConfigRefused as refusal:
                print(f"config apply: refused: {refusal}", file=sys.stderr)
                return EXIT_REFUSED
        if result.status != "applied":
            print(
                f"config {result.version} failed its health check and was rolled back: "
                f"{result.reason}",
                file=sys.stderr,
            )
            return EXIT_REFUSED
        print(f"config version {result.version} applied; restart the kiosk services")
        return EXIT_OK
    print(f"not a provisioning command: {args.command}", file=sys.stderr)
    return EXIT_USAGE
