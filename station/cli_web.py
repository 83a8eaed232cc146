"""``station serve`` (the web service) and ``station accounts`` (its accounts and markets).

Registered from station/cli.py's ``build_parser``. Exit codes: 0 done, 1 refused,
2 bad usage or configuration (the offending key is named).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from station.db import Database

if TYPE_CHECKING:
    from station.web.config import WebConfig

log = logging.getLogger("station")
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help="the web service's TOML (default: the embedded simulation config)",
    )
    p.add_argument("--db", help="override [database] url: SQLite path or postgresql:// URL")


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="the county web service: scan page, market check-in, dashboard",
        description="Serve the public scan page (/V/<payload>), market pages (/market/) and "
        "the regulators' dashboard (/admin/) on one port; /healthz answers 200 when the "
        "store is reachable. Configuration: one TOML (docs/station.md).",
    )
    _config_args(serve)
    serve.add_argument("--host", help="override [server] host")
    serve.add_argument("--port", type=int, help="override [server] port")
    serve.set_defaults(handler=_serve)

    acc = sub.add_parser("accounts", help="web accounts and markets")
    asub = acc.add_subparsers(dest="accounts_action", required=True)
    add = asub.add_parser("add", help="a new account; the password is read from stdin or tty")
    _config_args(add)
    add.add_argument("username")
    add.add_argument("--role", required=True,
                     choices=["viewer", "officer", "admin", "inspector", "buyer"])  # fmt: skip
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--market", help="market name (market roles)")
    passwd = asub.add_parser("passwd", help="set a password (read from stdin or tty)")
    _config_args(passwd)
    passwd.add_argument("username")
    for name in ("disable", "enable"):
        p = asub.add_parser(name)
        _config_args(p)
        p.add_argument("username")
    listing = asub.add_parser("list")
    _config_args(listing)
    market = asub.add_parser("add-market", help="a market whose inspectors check certificates")
    _config_args(market)
    market.add_argument("name")
    market.add_argument("--township", required=True)
    acc.set_defaults(handler=_accounts)


def _load(args: argparse.Namespace) -> WebConfig:
    from station.web.config import load_web_config

    return load_web_config(args.config, database=args.db)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from station.web.app import create_app
    from station.web.config import WebConfigError

    try:
        config = _load(args)
        server = config.server.model_copy(
            update={k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        )
        config = config.model_copy(update={"server": server})
        app = create_app(config)
    except (WebConfigError, OSError, RuntimeError, ValueError) as error:
        print(f"station serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    log.info("serving on http://%s:%d (county %s)", server.host, server.port,
             config.verify.county)  # fmt: skip
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        root_path=server.root_path,
        proxy_headers=bool(server.trusted_proxies),
        forwarded_allow_ips=server.trusted_proxies or None,
        server_header=False,
        log_level="info" if args.verbose else "warning",
        access_log=bool(args.verbose),
    )
    return EXIT_OK


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _accounts(args: argparse.Namespace) -> int:
    from station.web import auth
    from station.web.auth import AccountError, Role

    config = _load(args)
    s = config.security
    ph = auth.hasher(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism)
    action = args.accounts_action
    try:
        with Database(config.database.url) as db:
            if action == "add":
                market_id = None
                if args.market:
                    found = [m[0] for m in auth.markets(db) if m[2] == args.market]
                    if not found:
                        raise AccountError(f"no market named {args.market!r}")
                    market_id = found[0]
                auth.add_account(db, ph, args.username, _read_password(), Role(args.role),
                                 display_name=args.name, market_id=market_id)  # fmt: skip
                auth.audit(db, "cli", "account_add", args.username, role=args.role)
            elif action == "passwd":
                auth.set_password(db, ph, args.username, _read_password())
                auth.audit(db, "cli", "account_passwd", args.username)
            elif action in ("disable", "enable"):
                auth.set_disabled(db, args.username, action == "disable")
                auth.audit(db, "cli", f"account_{action}", args.username)
            elif action == "add-market":
                auth.add_market(db, config.verify.county, args.name, args.township)
                auth.audit(db, "cli", "market_add", args.name)
            else:
                accounts = auth.list_accounts(db)
                if not accounts:
                    print("no web accounts yet: station accounts add NAME --role admin")
                for a in accounts:
                    state = " (disabled)" if a.disabled else ""
                    print(f"{a.username}\t{a.role.value}\t{a.market_name or '-'}\t"
                          f"{a.display_name}{state}")  # fmt: skip
    except (AccountError, ValueError) as error:
        print(f"station accounts: {error}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK
