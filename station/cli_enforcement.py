"""Station subcommands for the enforcement loop: ``station holds run|list|place|lift``
(docs/enforcement.md). Registered from station/cli.py's ``build_parser``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from station import grading
from station import holds as county_holds
from station.cli_provisioning import add_broker_args, settings_from_args
from station.db import Database
from station.web.store import transaction
from wire.clock import china_time
from wire.holds import IDENTIFIER_KINDS, identifier
from wire.signing import KeyFileError, SigningKey


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("holds", help="county-wide holds: publish, list, place, lift")
    hsub = p.add_subparsers(dest="holds_action", required=True)
    run = hsub.add_parser("run", help="publish the signed hold list as it changes (until stopped)")
    run.add_argument("--db", default="station.db", help="SQLite path or postgresql:// URL")
    run.add_argument("--county", required=True)
    run.add_argument("--signing-key", type=Path, required=True, help="county key (PEM, 0600)")
    run.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    run.add_argument("--grading-rules", type=Path, help="TOML with a [grading] table")
    run.add_argument("--grade-interval", type=float, default=10.0, help="seconds")
    add_broker_args(run)
    listing = hsub.add_parser("list", help="open county-wide holds")
    listing.add_argument("--db", default="station.db")
    listing.add_argument("--county", required=True)
    listing.add_argument("--json", action="store_true")
    place = hsub.add_parser("place", help="an officer's hold (audited)")
    place.add_argument("--db", default="station.db")
    place.add_argument("--county", required=True)
    place.add_argument("--by", required=True, help="the officer's account name")
    place.add_argument("--product", default="*", help="product code, * for every product")
    place.add_argument("--reason", required=True)
    place.add_argument("--contact", default="")
    for kind in IDENTIFIER_KINDS:
        place.add_argument(f"--{kind.replace('_', '-')}", dest=kind, action="append", default=[])
    lift = hsub.add_parser("lift", help="lift a hold (audited; the reason is required)")
    lift.add_argument("--db", default="station.db")
    lift.add_argument("--county", required=True)
    lift.add_argument("hold_id")
    lift.add_argument("--by", required=True)
    lift.add_argument("--reason", required=True)
    p.set_defaults(handler=_holds)


def _holds(args: argparse.Namespace) -> int:
    from station.web.auth import audit_row

    if args.holds_action == "run":
        try:
            key = SigningKey.load(args.signing_key)
        except (OSError, KeyFileError) as error:
            print(f"station holds run: {error}", file=sys.stderr)
            return 2
        try:
            rules = grading.load_rules(args.grading_rules)
        except (OSError, ValueError) as error:
            print(f"station holds run: {error}", file=sys.stderr)
            return 2
        broker = settings_from_args(args, client_id=f"county-{args.county}-holds")
        publisher = county_holds.HoldPublisher(
            args.db, args.county, key, broker, china_time, interval_s=args.interval,
            rules=rules, grade_interval_s=args.grade_interval,
        )  # fmt: skip
        done = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: done.set())
        with publisher:
            done.wait()
        return 0
    with Database(args.db) as db:
        if args.holds_action == "list":
            rows = county_holds.open_holds(db, args.county)
            if args.json:
                print(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=1))
            for r in [] if args.json else rows:
                print(f"{r.hold_id}  {r.product_code}  {r.source}  {r.placed_at[:19]}  "
                      f"{' '.join(r.identifiers)}  {r.reason}")  # fmt: skip
            return 0
        try:
            with transaction(db):
                if args.holds_action == "place":
                    ids = [identifier(k, v) for k in IDENTIFIER_KINDS for v in getattr(args, k)]
                    hold_id = county_holds.place_hold(
                        db, args.county, identifiers=ids, product_code=args.product,
                        reason=args.reason, source="officer", placed_by=args.by,
                        now=china_time(), contact=args.contact,
                    )  # fmt: skip
                    audit_row(db, args.by, "hold_place", hold_id, identifiers=ids, via="cli")
                    print(hold_id)
                    return 0
                if not county_holds.lift_hold(
                    db, args.county, args.hold_id, args.by, args.reason, china_time()
                ):
                    print(f"no open hold {args.hold_id}", file=sys.stderr)
                    return 1
                audit_row(db, args.by, "hold_lift", args.hold_id, reason=args.reason, via="cli")
                return 0
        except county_holds.HoldError as error:
            print(f"station holds: {error}", file=sys.stderr)
            return 1
