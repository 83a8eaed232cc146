"""The county-side command line: collect, report, devices, cmd, config, trust.

Each subcommand lives in a ``_add_<name>`` function that registers its parser and
handler; provisioning's commands register through ``station/cli_provisioning.py``.
Every error is one line on stderr with exit code 1 (refused, failed) or 2 (bad usage
or configuration); ``wire/cli.py`` is the boundary.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from station import cli_enforcement, cli_provisioning, cli_web
from station.collector import Collector, CollectorSettings
from station.db import Database
from station.migrate import SchemaError
from station.report import SECTIONS, render_csv, render_text
from station.web.auth import AccountError
from station.web.config import WebConfigError
from wire.cli import CliError, CliParser, ErrorMap, configure_logging, run_cli
from wire.mqtt import BrokerError
from wire.signing import KeyFileError

DEFAULT_DATABASE = "station.db"
#: How long ``station collect`` watches for another store's claim before settling in.
CLAIM_WAIT_S = 3.0


def _database_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=DEFAULT_DATABASE,
        help="SQLite path (default %(default)s) or a postgresql:// URL",
    )


def _add_collect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="store kiosk events from the broker (runs until stopped)")
    _database_arg(p)
    d = CollectorSettings()
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--ca", type=Path)
    p.add_argument("--cert", type=Path, help="TLS client certificate")
    # --key-file as in every other station command; elsewhere --key is the county
    # signing key, so the old spelling here is kept but no longer shown.
    p.add_argument("--key-file", dest="key", type=Path, help="TLS client key")
    p.add_argument("--key", dest="key", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--username")
    p.add_argument("--password-file", type=Path, help="file holding the broker password")
    p.add_argument("--prefix", default=d.topic_prefix)
    p.add_argument("--group", default=d.group, help="shared-subscription group")
    p.add_argument("--county", default=d.county, help="one county code, or + for all")
    p.add_argument(
        "--client-id",
        help="stable per collector instance (default: the --username, which the broker "
        f"requires with per-instance collector accounts; without a login {d.client_id})",
    )
    p.add_argument("--batch-max", type=int, default=d.batch_max)
    p.add_argument("--batch-wait", type=float, default=d.batch_wait_s, help="seconds")
    p.add_argument(
        "--stop-timeout",
        type=float,
        default=d.stop_timeout_s,
        help="seconds SIGTERM waits for a writer stuck in the store (default %(default)s)",
    )
    p.set_defaults(handler=_collect)


def _collect(args: argparse.Namespace) -> int:
    password = args.password_file.read_text().strip() if args.password_file else None
    settings = CollectorSettings(
        host=args.host,
        port=args.port,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        username=args.username,
        password=password,
        topic_prefix=args.prefix,
        group=args.group,
        county=args.county,
        client_id=args.client_id or args.username or CollectorSettings.client_id,
        batch_max=args.batch_max,
        batch_wait_s=args.batch_wait,
        stop_timeout_s=args.stop_timeout,
    )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    try:
        collector = Collector(settings, args.db)
        collector.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"station collect: {exc}", file=sys.stderr)
        return 2
    with collector:
        # Retained claims arrive within moments of the connection: another store in
        # this group is refused at start, and logged as an error if one appears later.
        deadline = time.monotonic() + CLAIM_WAIT_S
        while time.monotonic() < deadline and not done.is_set():
            if collector.conflict:
                raise CliError(collector.conflict)
            time.sleep(0.1)
        while not done.wait(1.0):
            if not collector.healthy:
                logging.getLogger("station").error("collector writer stopped")
                return 1
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="certificates, rapid tests, open holds")
    _database_arg(p)
    cli_provisioning.must_exist(p)
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument(
        "--section",
        action="append",
        choices=sorted(SECTIONS),
        help="only these sections (repeatable); default certificates, rapidtests, holds, gaps",
    )
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    names = args.section or ["certificates", "rapidtests", "holds", "gaps"]
    with Database(args.db) as db:
        tables = [SECTIONS[name](db) for name in names]
    sys.stdout.write(render_csv(tables) if args.csv else render_text(tables))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="station", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_collect(sub)
    _add_report(sub)
    cli_provisioning.register(sub)  # devices, cmd, config, trust
    cli_web.register(sub)  # serve, accounts
    cli_enforcement.register(sub)  # holds
    return parser


#: Long-running services log to stderr (the journal under systemd); the rest keep it
#: for their one line.
SERVICES = ("collect", "serve")

#: Errors below the handlers and the one line (prefix + message) and exit code of each.
ERRORS: ErrorMap = [
    (KeyFileError, 2, "county key: "),
    (WebConfigError, 2, "configuration error: "),
    (BrokerError, 1, "broker: "),
    (SchemaError, 1, "database: "),
    (sqlite3.Error, 1, "database: "),
    (AccountError, 1, "refused: "),
]


def check_database(args: argparse.Namespace) -> None:
    """A command that reads the county store refuses a missing SQLite file (a typo in
    ``--db`` would otherwise make an empty store and report zeros) unless ``--create``."""
    url = getattr(args, "db", None)
    if not url or not getattr(args, "db_must_exist", False) or getattr(args, "create", False):
        return
    if "://" in url or Path(url).is_file():
        return
    raise CliError(f"--db {url}: no such database (check the path; --create starts a new one)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    actions = {v for k, v in vars(args).items() if k.endswith("_action")}
    service = args.command in SERVICES or bool(actions & {"enroll-service", "run"})
    configure_logging("station", verbose=args.verbose, service=service)

    def body() -> int:
        check_database(args)
        return int(args.handler(args))

    return run_cli("station", body, ERRORS, verbose=args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
