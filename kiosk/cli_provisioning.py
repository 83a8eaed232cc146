"""Provisioning on the kiosk's command line, and the managed configuration overlay.

``kiosk enroll CODE``, ``kiosk config show|apply FILE``, ``kiosk audit verify|list``.

The configuration a kiosk runs with is three layers, later ones winning:

1. the installed file (``/etc/agriqs/kiosk.toml``: read-only to the kiosk user);
2. ``{data_dir}/config/managed.json``: the last signed county bundle that passed its
   health check (``{"version": N, "settings": {...}}``, one file so that version and
   content can never disagree);
3. ``{data_dir}/config/identity.json``: what enrollment gave this kiosk (device id,
   county, township, MQTT account, county trust anchors). Bundles may not touch it.

``effective_config(config)`` applies 2 and 3 to what ``load_config`` read. Writing
the layers is provisioning's job (provisioning/configs.py, provisioning/enroll.py);
kiosk/ only reads them, and reaches provisioning through the ``agriqs.provisioning``
entry point, never by import (provisioning sits above kiosk/).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from kiosk.config import ConfigError, KioskConfig, parse_config

COMMANDS = ("enroll", "config", "audit")
MANAGED_FILE = "managed.json"
IDENTITY_FILE = "identity.json"
CONFIG_DIR = "config"
#: Keys that belong to the kiosk's identity and trust, set by enrollment only: a county
#: bundle that could rename the device or swap its anchors could hijack the kiosk.
PROTECTED_KEYS = (
    "device",
    "paths",
    "uplink.username",
    "uplink.password_file",
    "uplink.tls_cert",
    "uplink.tls_key",
    "certificate.trust_anchors",
    "certificate.trust_list",
)
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def config_dir(data_dir: Path) -> Path:
    return data_dir / CONFIG_DIR


def read_layer(path: Path) -> dict[str, Any] | None:
    """A JSON layer file, or None when absent; ConfigError when unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return data


def managed_version(data_dir: Path) -> int:
    """Version of the applied county bundle; 0 when none was ever applied."""
    layer = read_layer(config_dir(data_dir) / MANAGED_FILE)
    return int(layer.get("version", 0)) if layer else 0


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of config dicts: tables merge, values replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def protected_keys_in(settings: dict[str, Any]) -> list[str]:
    """The protected dotted keys a bundle's settings try to set."""
    found = []
    for key in PROTECTED_KEYS:
        node: Any = settings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            found.append(key)
    return found


def compose(
    config: KioskConfig, settings: dict[str, Any] | None, identity: dict[str, Any] | None
) -> KioskConfig:
    """Installed config + bundle settings + identity, checked against the schema."""
    data = config.model_dump(mode="json", exclude_none=True)
    if settings:
        data = merge(data, settings)
    if identity:
        data = merge(data, identity)
    return parse_config(data)


def effective_config(config: KioskConfig) -> KioskConfig:
    """What the kiosk runs with: ``config`` plus the managed and identity layers."""
    folder = config_dir(config.paths.data_dir)
    managed = read_layer(folder / MANAGED_FILE)
    identity = read_layer(folder / IDENTITY_FILE)
    if managed is None and identity is None:
        return config
    return compose(config, (managed or {}).get("settings"), identity)


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

    audit = subparsers.add_parser("audit", help="the hash-chained audit log")
    audit_sub = audit.add_subparsers(dest="audit_action", required=True)
    verify = audit_sub.add_parser("verify", help="check the whole chain")
    verify.add_argument("--json", action="store_true")
    listing = audit_sub.add_parser("list", help="newest entries")
    listing.add_argument("--kind")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")


def run_command(args: argparse.Namespace, config: KioskConfig) -> int | None:
    """Run a provisioning command; None when ``args.command`` is not one of ours."""
    if args.command not in COMMANDS:
        return None
    if args.command == "audit":
        return _audit(args, config)
    if args.command == "config" and args.config_action == "show":
        return _config_show(args, config)
    return _provisioning_backend()(args, config)


def _provisioning_backend() -> Any:
    found = entry_points(group="agriqs.provisioning", name="cli")
    if not found:
        raise ConfigError("no agriqs.provisioning entry 'cli' is installed (pip install -e .)")
    return next(iter(found)).load()


def _config_show(args: argparse.Namespace, config: KioskConfig) -> int:
    effective = effective_config(config)
    version = managed_version(config.paths.data_dir)
    data = {"config_version": version, "config": effective.model_dump(mode="json")}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        device = effective.device
        print(f"device {device.county}/{device.device_id} ({device.township})")
        print(f"config version {version}")
        for section, values in data["config"].items():
            print(f"[{section}] {json.dumps(values, ensure_ascii=False)}")
    return EXIT_OK


def _audit(args: argparse.Namespace, config: KioskConfig) -> int:
    from kiosk.audit import AuditLog
    from kiosk.qrpayload import CST
    from kiosk.store import Store

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
        else:
            for e in entries:
                print(f"{e.seq:>6}  {e.at}  {e.kind:<22} {json.dumps(e.data, ensure_ascii=False)}")
        return EXIT_OK
