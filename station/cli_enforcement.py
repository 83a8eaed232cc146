"""Station subcommands for the enforcement loop: ``station holds run|list|place|lift``
(docs/enforcement.md). Registered from station/cli.py's ``build_parser``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from station import grading, sharing
from station import holds as county_holds
from station.cli_provisioning import add_broker_args, must_exist, settings_from_args
from station.db import Database
from station.web.store import transaction
from wire.clock import china_time
from wire.holds import IDENTIFIER_KINDS, identifier
from wire.mqtt import BrokerError
from wire.signing import KeyFileError, SigningKey


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("holds", help="county-wide holds: publish, list, place, lift")
    hsub = p.add_subparsers(dest="holds_action", required=True)
    run = hsub.add_parser("run", help="publish the signed hold list as it changes (until stopped)")
    run.add_argument("--db", default="station.db", help="SQLite path or postgresql:// URL")
    run.add_argument("--county", required=True)
    run.add_argument("--key", type=Path, required=True, help="county signing key (PEM, 0600)")
    run.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    run.add_argument("--grading-rules", type=Path, help="TOML with a [grading] table")
    run.add_argument("--grade-interval", type=float, default=10.0, help="seconds")
    add_broker_args(run)
    listing = hsub.add_parser("list", help="open county-wide holds")
    listing.add_argument("--db", default="station.db")
    must_exist(listing)  # a typo in --db must not make an empty store that lists nothing
    listing.add_argument("--county", required=True)
    listing.add_argument("--json", action="store_true")
    place = hsub.add_parser("place", help="an officer's hold (audited)")
    place.add_argument("--db", default="station.db")
    must_exist(place)
    place.add_argument("--county", required=True)
    place.add_argument("--by", required=True, help="the officer's account name")
    place.add_argument("--product", default="*", help="product code, * for every product")
    place.add_argument("--reason", required=True)
    place.add_argument("--contact", default="")
    for kind in IDENTIFIER_KINDS:
        place.add_argument(f"--{kind.replace('_', '-')}", dest=kind, action="append", default=[])
    lift = hsub.add_parser("lift", help="lift a hold (audited; the reason is required)")
    lift.add_argument("--db", default="station.db")
    must_exist(lift)
    lift.add_argument("--county", required=True)
    lift.add_argument("hold_id")
    lift.add_argument("--by", required=True)
    lift.add_argument("--reason", required=True)
    p.set_defaults(handler=_holds)
    _add_share(sub)
    _add_time(sub)


def _add_time(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("time", help="the county's signed time beacon (docs/fleet.md)")
    tsub = p.add_subparsers(dest="time_action", required=True)
    run = tsub.add_parser("run", help="publish the signed time beacon (until stopped)")
    run.add_argument("--county", required=True)
    run.add_argument("--key", type=Path, required=True, help="county signing key (PEM, 0600)")
    run.add_argument("--interval", type=int, default=60, help="seconds between beacons (1-3600)")
    run.add_argument("--once", action="store_true", help="publish one beacon and exit")
    add_broker_args(run)
    p.set_defaults(handler=_time)


def _time(args: argparse.Namespace) -> int:
    from station.timebeacon import TimeBeaconPublisher

    if not 1 <= args.interval <= 3600:
        print("station time run: --interval must be 1..3600", file=sys.stderr)
        return 2
    try:
        key = SigningKey.load(args.key)
    except (OSError, KeyFileError) as error:
        print(f"station time run: {error}", file=sys.stderr)
        return 2
    broker = settings_from_args(args, client_id=f"county-{args.county}-time")
    publisher = TimeBeaconPublisher(args.county, key, broker, china_time, interval_s=args.interval)
    if args.once:
        try:
            publisher.publish_once()
        except (BrokerError, OSError, RuntimeError) as error:
            print(f"station time run: {error}", file=sys.stderr)
            return 1
        finally:
            publisher.stop()
        return 0
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with publisher:
        done.wait()
    return 0


def _add_share(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("share", help="share records with other departments (docs/enforcement.md)")
    ssub = p.add_subparsers(dest="share_action", required=True)
    run = ssub.add_parser("run", help="stage and push to the endpoint until stopped")
    export = ssub.add_parser("export", help="write staged records (JSON Lines or CSV)")
    state = ssub.add_parser("status", help="pending / sent / dead counts")
    requeue = ssub.add_parser("requeue", help="send the dead letter again")
    for q in (run, export, state, requeue):
        q.add_argument("--db", default="station.db")
        must_exist(q)
        q.add_argument("--county", required=True)
    run.add_argument("--endpoint", required=True, help="https:// URL of the receiver")
    run.add_argument("--token-file", type=Path, help="bearer token (file, 0600)")
    run.add_argument("--interval", type=float, default=5.0)
    export.add_argument("--section", choices=sharing.SECTIONS)
    export.add_argument("--after", type=int, default=0, help="watermark: outbox id")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.set_defaults(handler=_share)


def _share(args: argparse.Namespace) -> int:
    if args.share_action == "run":
        token = args.token_file.read_text().strip() if args.token_file else None
        try:
            settings = sharing.PushSettings(args.endpoint, token=token)
        except sharing.ShareError as error:
            print(f"station share run: {error}", file=sys.stderr)
            return 2
        exporter = sharing.Exporter(args.db, args.county, settings, china_time, args.interval)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: exporter.stop())
        exporter.run()
        return 0
    with Database(args.db) as db:
        if args.share_action == "export":
            sharing.stage(db, args.county, china_time())
            lines = sharing.export_lines(db, args.county, args.section, args.after)
            sys.stdout.write(sharing.to_csv(lines) if args.format == "csv" else
                             "".join(line + "\n" for line in lines))  # fmt: skip
        elif args.share_action == "status":
            print(json.dumps(sharing.status(db, args.county)))
        else:
            print(sharing.requeue_dead(db, args.county, china_time()))
    return 0


def _holds(args: argparse.Namespace) -> int:
    from station.web.auth import audit_row

    if args.holds_action == "run":
        try:
            key = SigningKey.load(args.key)
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
