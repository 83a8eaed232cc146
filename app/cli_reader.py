"""``kiosk reader …``, ``kiosk test …`` and ``kiosk holds …``: the rapid-test station's CLI.

app/cli.py calls ``add_commands(subparsers)`` while building its parser and hands
these commands to ``run_command(args, kiosk)``; the kiosk brings ``reader`` (a
``TestReader`` or None) and ``rapid_tests`` (a ``RapidTestService``).

Exit codes: 0 done (a test run's verdict, whatever it is, is in the output);
1 refused or invalid input; 2 no reader configured or bad usage; 4 the reader failed
(nothing was recorded as a verdict).

Firmware files for ``reader flash IMAGE``: the raw image, and beside it ``IMAGE.json``
holding {"version": "...", "signature": "<hex Ed25519>", "sha256": "<hex, optional>"}
as produced by the vendor's release tool. The reader's bootloader checks the signature.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from kiosk.domain.catalogue import ProductNotFound
from kiosk.domain.validation import InputError
from kiosk.services.labels import PAPERS
from kiosk.services.rapidtest import (
    RapidTestError,
    ReaderFailure,
    RunOutcome,
    SampleSlot,
    TestResult,
)
from kiosk.services.rapidtest_slips import result_slip
from readerlink.errors import LinkError
from readerlink.firmware_image import SignedFirmware
from wire.cli import positive_int

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_READER = 0, 1, 2, 4
COMMANDS = ("reader", "test", "holds", "referrals")
DEFAULT_SAMPLE_CHANNEL = 1
DEFAULT_CONTROL_CHANNEL = 0
CALIBRATION_KINDS = ("blank", "reference", "both")
MANIFEST_SUFFIX = ".json"


class FirmwareFileError(ValueError):
    """The image or its manifest cannot be used; nothing was sent to the reader."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add reader, test and holds to the kiosk parser's subcommands."""
    reader = subparsers.add_parser("reader", help="the rapid-test reader")
    reader_sub = reader.add_subparsers(dest="reader_action", required=True)
    info = reader_sub.add_parser("info", help="handshake: firmware, channels, calibration")
    info.add_argument("--json", action="store_true")
    selftest = reader_sub.add_parser("selftest", help="lamp, detector and temperature check")
    selftest.add_argument("--json", action="store_true")
    calibrate = reader_sub.add_parser("calibrate", help="blank (buffer cuvettes in) and reference")
    calibrate.add_argument("--kind", choices=CALIBRATION_KINDS, default="both")
    calibrate.add_argument("--channels", help="comma-separated channels (default: all)")
    calibrate.add_argument("--json", action="store_true")
    flash = reader_sub.add_parser("flash", help="install a signed reader firmware image")
    flash.add_argument("image", type=Path)
    flash.add_argument("--manifest", type=Path, help=f"default: IMAGE{MANIFEST_SUFFIX}")

    test = subparsers.add_parser("test", help="rapid tests: register samples, run, list")
    test_sub = test.add_subparsers(dest="test_action", required=True)
    register = test_sub.add_parser("register", help="register a sample before testing it")
    register.add_argument("--sample", required=True, help="sample barcode")
    register.add_argument("--producer", required=True, help="producer name")
    register.add_argument("--phone", required=True)
    register.add_argument("--producer-id", help="producer card / 主体码 id")
    register.add_argument("--product", required=True, help="catalogue code")
    register.add_argument("--inputs", default="", help="comma-separated input classes used")
    register.add_argument("--note", default="")
    register.add_argument(
        "--batch-quantity", help="the production batch the sample stands for (按生产批次)"
    )
    register.add_argument("--batch-unit", help="default: the product's default unit")
    register.add_argument("--sampling-place", default="", help="抽样地点")
    register.add_argument("--json", action="store_true")
    run = test_sub.add_parser("run", help="run a test on a registered sample")
    run.add_argument("--method", required=True, help="method id from methods.toml")
    run.add_argument("--sample", required=True)
    run.add_argument("--channel", type=int, default=DEFAULT_SAMPLE_CHANNEL)
    run.add_argument("--control-channel", type=int, default=DEFAULT_CONTROL_CHANNEL)
    run.add_argument("--portion", type=int, help="portion number (default: chosen for you)")
    run.add_argument(
        "--applied-minutes-ago", type=float, default=0.0,
        help="strips: minutes since the sample was applied (waits for the read window)",
    )  # fmt: skip
    run.add_argument(
        "--kit-lot", help="kit/reagent lot: the number, or the kit barcode as scanned (GS1)"
    )
    run.add_argument("--tester", default="", help="who runs the test (staff account name)")
    run.add_argument("--json", action="store_true")
    slip = test_sub.add_parser("slip", help="print the 快速检测结果单 of a result (signed QR)")
    slip.add_argument("test_id")
    slip.add_argument("--no-print", action="store_true", help="only show it")
    slip.add_argument("--json", action="store_true")
    kit = test_sub.add_parser("kit", help="kit and reagent lots: add a lot file, list")
    kit_sub = kit.add_subparsers(dest="kit_action", required=True)
    kit_add = kit_sub.add_parser("add", help="register a kit lot from its lot file (TOML)")
    kit_add.add_argument("file", type=Path)
    kit_add.add_argument("--json", action="store_true")
    kit_list = kit_sub.add_parser("list", help="registered lots, soonest expiry first")
    kit_list.add_argument("--method")
    kit_list.add_argument("--json", action="store_true")
    listing = test_sub.add_parser("list", help="recent results, newest first")
    listing.add_argument("--sample")
    listing.add_argument("--limit", type=positive_int, default=20)
    listing.add_argument("--json", action="store_true")
    methods = test_sub.add_parser("methods", help="the methods this kiosk offers")
    methods.add_argument("--json", action="store_true")

    holds = subparsers.add_parser("holds", help="certificate holds after confirmed positives")
    holds.add_argument("--json", action="store_true")
    holds_sub = holds.add_subparsers(dest="holds_action")
    holds_list = holds_sub.add_parser("list")
    holds_list.add_argument("--json", action="store_true")
    county = holds_sub.add_parser("county", help="the county-wide holds and grades applied here")
    county.add_argument("--json", action="store_true")
    lift = holds_sub.add_parser("lift", help="record the county's lifting of a hold")
    lift.add_argument("hold_id", type=int)
    lift.add_argument("--by", required=True, help="who lifted it, e.g. county:inspector-7")

    referrals = subparsers.add_parser("referrals", help="lab referrals after confirmed positives")
    referrals.add_argument("--state", choices=("open", "closed", "all"), default="open")
    referrals.add_argument("--json", action="store_true")
    ref_sub = referrals.add_subparsers(dest="referral_action")
    retained = ref_sub.add_parser("retained", help="the tester confirms the retained sample")
    retained.add_argument("referral_id", type=int)
    retained.add_argument("--by", required=True, help="the tester's name")
    result = ref_sub.add_parser("result", help="record the lab's result; closes the referral")
    result.add_argument("referral_id", type=int)
    result.add_argument("--lab", required=True)
    result.add_argument("--report", required=True, help="the lab report number")
    result.add_argument("--substance", required=True)
    result.add_argument("--value", required=True, help="measured value (0 = not detected)")
    result.add_argument("--limit", required=True, help="the limit (0 for banned substances)")
    result.add_argument("--unit", default="mg/kg")
    result.add_argument("--date", required=True, help="report date YYYY-MM-DD")
    result.add_argument("--by", required=True, help="who records it")
    ref_sub.add_parser("overdue", help="raise referral_overdue for late referrals")


def run_command(args: argparse.Namespace, kiosk: Any, out: TextIO | None = None) -> int:
    """Run one of this module's commands against an open kiosk; returns the exit code."""
    out = out or sys.stdout
    try:
        if args.command == "reader":
            return _reader(args, kiosk, out)
        if args.command == "test":
            return _test(args, kiosk, out)
        if args.command == "holds":
            return _holds(args, kiosk, out)
        if args.command == "referrals":
            return _referrals(args, kiosk, out)
    except ReaderFailure as error:
        print(f"reader: {error.message}", file=sys.stderr)
        return EXIT_READER
    except LinkError as error:
        print(f"reader: {error}", file=sys.stderr)
        return EXIT_READER
    except (RapidTestError, InputError, FirmwareFileError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    raise ValueError(f"not a rapid-test command: {args.command!r}")


# -- reader ---------------------------------------------------------------------------


def _reader(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    reader = getattr(kiosk, "reader", None)
    if reader is None:
        print("no rapid-test reader is configured on this kiosk", file=sys.stderr)
        return EXIT_USAGE
    action = args.reader_action
    if action == "info":
        info = reader.info()
        data = {**asdict(info), "capabilities": sorted(info.capabilities)}
        text = (
            f"reader {info.serial_number} firmware {info.firmware_version} "
            f"(slot {info.active_slot}, boot {info.boot_reason}), {info.channels} channels, "
            f"blank {'yes' if info.blank_calibrated else 'NO'}, "
            f"reference {'yes' if info.reference_calibrated else 'NO'}"
        )
        _emit(args, out, data, text)
        return EXIT_OK
    if action == "selftest":
        report = reader.self_test()
        text = (
            f"self-test {'PASSED' if report.passed else 'FAILED'}: lamp "
            f"{report.lamp_relative:.0%}, dark {report.dark_counts}, "
            f"{report.temperature_c:.1f} °C" + "".join(f"\n  - {f}" for f in report.failures)
        )
        _emit(args, out, asdict(report), text)
        return EXIT_OK if report.passed else EXIT_REFUSED
    if action == "calibrate":
        channels = _channels(args.channels)
        done = {}
        if args.kind in ("blank", "both"):
            done["blank"] = reader.calibrate_blank(channels).values
        if args.kind in ("reference", "both"):
            done["reference"] = reader.calibrate_reference(channels).values
        lines = [
            f"{kind}: " + ", ".join(f"ch{ch}={v:.4g}" for ch, v in sorted(values.items()))
            for kind, values in done.items()
        ]
        _emit(args, out, {k: {str(c): v for c, v in vs.items()} for k, vs in done.items()},
              "\n".join(lines))  # fmt: skip
        return EXIT_OK
    firmware = load_signed_firmware(args.image, args.manifest)
    info = reader.flash_firmware(firmware, progress=_flash_progress())
    print(file=sys.stderr)
    print(f"reader now runs firmware {info.firmware_version} (slot {info.active_slot})", file=out)
    return EXIT_OK


def _channels(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError("channels", "channels", "通道须为逗号分隔的数字，例如 0,1,2") from None


def load_signed_firmware(image: Path, manifest: Path | None = None) -> SignedFirmware:
    """The image and its vendor manifest; a mismatching hash is refused before flashing."""
    manifest = manifest or image.with_name(image.name + MANIFEST_SUFFIX)
    try:
        data = image.read_bytes()
        meta = json.loads(manifest.read_text("utf-8"))
        version, signature = str(meta["version"]), bytes.fromhex(meta["signature"])
    except FileNotFoundError as error:
        raise FirmwareFileError(f"firmware file missing: {error.filename}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FirmwareFileError(f"firmware manifest {manifest} unusable: {error}") from None
    digest = hashlib.sha256(data).digest()
    if "sha256" in meta and meta["sha256"].lower() != digest.hex():
        raise FirmwareFileError(f"{image} does not match the sha256 in {manifest}")
    return SignedFirmware(data, version, digest, signature)


def _flash_progress() -> Callable[[int, int], None]:
    last = [-1]

    def show(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent != last[0]:
            last[0] = percent
            print(f"\rflashing… {percent:3d}%", end="", file=sys.stderr, flush=True)

    return show


# -- tests ------------------------------------------------------------------------------


def _test(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    service = kiosk.rapid_tests
    action = args.test_action
    if action == "register":
        sample = service.register_sample(
            args.sample,
            producer_name=args.producer,
            phone=args.phone,
            producer_id=args.producer_id,
            product_code=_product_code(kiosk, args.product),
            inputs_used=[x for x in args.inputs.split(",") if x.strip()],
            note=args.note,
            batch_quantity=args.batch_quantity,
            batch_unit=args.batch_unit,
            sampling_place=args.sampling_place,
        )
        registered: dict[str, Any] = asdict(sample)
        if sample.batch_quantity is not None:
            registered["batch_quantity"] = f"{sample.batch_quantity.normalize():f}"
        _emit(args, out, registered, f"sample {sample.sample_id} registered "
              f"({sample.producer_name}, {sample.product_code})")  # fmt: skip
        return EXIT_OK
    if action == "run":
        return _test_run(args, kiosk, out)
    if action == "kit":
        return _test_kit(args, kiosk, out)
    if action == "slip":
        return _test_slip(args, kiosk, out)
    if action == "methods":
        methods = service.methods.methods.values()
        data = [m.as_dict() for m in methods]
        text = "\n".join(f"{m.id:<16} {m.kind:<6} {m.standard:<24} {m.name}" for m in methods)
        _emit(args, out, data, text)
        return EXIT_OK
    results = service.results(args.sample, limit=args.limit)
    text = "\n".join(_line(r) for r in results) or "no rapid-test results"
    _emit(args, out, [asdict(r) for r in results], text)
    return EXIT_OK


def _test_slip(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    """The farmer's result slip: shown, and printed unless --no-print."""
    paper = PAPERS[kiosk.issuance.settings.paper]
    slip = result_slip(
        kiosk.rapid_tests, args.test_id, county=kiosk.config.device.county,
        signer=kiosk.signer, verify_url=kiosk.issuance.settings.verify_url,
        width=paper.width, height=paper.height,
    )  # fmt: skip
    if not args.no_print:
        for document in slip.documents:
            kiosk.printer.print_label(document, 1)
    data = {"test_id": slip.test_id, "lines": list(slip.lines), "qr_text": slip.qr_text,
            "printed": not args.no_print}  # fmt: skip
    _emit(args, out, data, "\n".join([*slip.lines, slip.qr_text]))
    return EXIT_OK


def _test_kit(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    service = kiosk.rapid_tests
    if args.kit_action == "add":
        try:
            text = args.file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RapidTestError("kit_lot", f"批号文件读不出：{error}") from None
        lots = [service.add_kit_lot(text)]
    else:
        lots = service.kit_lots(args.method)
    data = [
        {"lot": k.lot, "method": k.method_id, "expires_on": k.expires_on.isoformat(),
         "maker": k.maker, "strip": dict(k.strip)}
        for k in lots
    ]  # fmt: skip
    text = "\n".join(
        f"{k.lot:<16} {k.method_id:<22} expires {k.expires_on}  {k.maker}" for k in lots
    )
    _emit(args, out, data, text or "no kit lots")
    return EXIT_OK


def _product_code(kiosk: Any, text: str) -> str:
    """Code, name, pinyin, initials or English name; a refusal names the nearest."""
    try:
        return str(kiosk.catalogue.find(text).code)
    except ProductNotFound as error:
        raise InputError("product", "unknown", error.message) from None


def _test_run(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    service = kiosk.rapid_tests
    try:
        method = service.methods.get(args.method)
    except ValueError as error:
        raise RapidTestError("unknown_method", str(error)) from None
    advice = service.advice_for(method.id, service.sample(args.sample).product_code)
    if advice:
        print(f"注意：{advice}", file=sys.stderr)
    progress = _countdown(sys.stderr)
    if method.kind == "enzyme":
        outcome = service.run_enzyme(
            method.id,
            [SampleSlot(args.sample, args.channel, args.portion)],
            control_channel=args.control_channel,
            progress=progress,
            tester=args.tester,
            kit_lot=args.kit_lot,
        )
    else:
        applied = kiosk.rapid_tests.clock() - timedelta(minutes=args.applied_minutes_ago)
        outcome = service.run_strip(
            method.id, args.sample, portion=args.portion, applied_at=applied, progress=progress,
            tester=args.tester, kit_lot=args.kit_lot,
        )  # fmt: skip
    print(file=sys.stderr)
    _emit(args, out, _outcome_data(outcome), _outcome_text(outcome))
    return EXIT_OK


def _countdown(stream: TextIO) -> Callable[[str, float, float], None]:
    """A one-line countdown: the minutes a run takes are long for someone standing there."""
    label = {"waiting": "等待显色", "measuring": "测定中"}

    def show(phase: str, elapsed: float, total: float) -> None:
        left = max(0, round(total - elapsed))
        print(f"\r{label.get(phase, phase)}… 剩余 {left // 60}:{left % 60:02d}", end="",
              file=stream, flush=True)  # fmt: skip

    return show


def _outcome_data(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "run": outcome.run_key,
        "method": outcome.method_id,
        "results": [asdict(r) for r in outcome.results],
        "holds": [asdict(h) for h in outcome.holds],
        "referrals": [asdict(r) for r in outcome.referrals],
    }


def _outcome_text(outcome: RunOutcome) -> str:
    lines = [f"run {outcome.run_key} ({outcome.method_id})"]
    for r in outcome.results:
        lines.append(_line(r))
        if r.reason:
            lines.append(f"  {r.reason}")
        if r.advice:
            lines.append(f"  {r.advice}")
    lines += [f"HOLD {h.id}: {h.producer_key} {h.product_code} — {h.reason}" for h in outcome.holds]
    return "\n".join(lines)


def _line(r: TestResult) -> str:
    value = "-" if r.value is None else f"{r.value:.2f}{'' if r.unit == '%' else ' '}{r.unit}"
    lot = f"  lot {r.kit_lot}" if r.kit_lot else ""
    return (
        f"{r.test_id}  {r.sample_id} #{r.portion}  {r.method_id}  ch {r.channel}  "
        f"{r.verdict.upper():<10} {value:>10}  {r.status}{lot}"
    )


# -- holds ------------------------------------------------------------------------------


def _holds(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    registry = kiosk.holds
    if getattr(args, "holds_action", None) == "lift":
        if not registry.lift(args.hold_id, args.by):
            raise RapidTestError("unknown_hold", f"没有未解除的暂停 {args.hold_id}")
        print(f"hold {args.hold_id} lifted by {args.by}", file=out)
        return EXIT_OK
    if getattr(args, "holds_action", None) == "county":
        return _county_holds(args, kiosk, out)
    holds = registry.open_holds()
    text = "\n".join(
        f"{h.id}  {h.placed_at[:16]}  {h.producer_key}  {h.product_code}  {h.reason}" for h in holds
    )
    _emit(args, out, [asdict(h) for h in holds], text or "no open holds")
    return EXIT_OK


def _referrals(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    service = kiosk.rapid_tests
    action = getattr(args, "referral_action", None)
    if action == "retained":
        shown = [service.confirm_retained(args.referral_id, args.by)]
    elif action == "result":
        try:
            reported = date.fromisoformat(args.date)
        except ValueError:
            raise RapidTestError(
                "reported_on", f"报告日期格式应为YYYY-MM-DD：{args.date}"
            ) from None
        shown = [service.record_lab_result(
            args.referral_id, lab=args.lab, report_number=args.report,
            substance=args.substance, value=args.value, limit=args.limit, unit=args.unit,
            reported_on=reported, by=args.by,
        )]  # fmt: skip
    elif action == "overdue":
        late = service.raise_overdue_referrals()
        print(f"{len(late)} overdue referral(s): {' '.join(map(str, late)) or '-'}", file=out)
        return EXIT_OK
    else:
        shown = service.referrals(None if args.state == "all" else args.state)
    text = "\n".join(
        f"{r.id}  {r.referred_at[:16]}  {r.sample_id}  {r.product_code}  {r.state}"
        f"{' ' + r.outcome if r.outcome else ''}  retained: "
        f"{r.retained_by if r.sample_retained else 'NOT CONFIRMED'}"
        for r in shown
    )
    _emit(args, out, [asdict(r) for r in shown], text or "no referrals")
    return EXIT_OK


def _county_holds(args: argparse.Namespace, kiosk: Any, out: TextIO) -> int:
    """What the county's signed hold list (applied by the agent) refuses here."""
    conn = kiosk.store.conn
    row = conn.execute("SELECT version, issued_at, applied_at FROM county_hold_list").fetchone()
    holds = [
        {"hold_id": r[0], "product_code": r[1], "reason": r[2], "source": r[3],
         "placed_at": r[4], "contact": r[5],
         "identifiers": [i[0] for i in conn.execute(
             "SELECT identifier FROM county_hold_identifiers WHERE hold_id = ? "
             "ORDER BY identifier", [r[0]])]}
        for r in conn.execute(
            "SELECT hold_id, product_code, reason, source, placed_at, contact FROM county_holds "
            "ORDER BY placed_at")
    ]  # fmt: skip
    grades = [
        {"grade": r[0], "reason": r[1], "identifiers": [i[0] for i in conn.execute(
            "SELECT identifier FROM county_grade_identifiers WHERE grade_id = ? "
            "ORDER BY identifier", [r[2]])]}
        for r in conn.execute("SELECT grade, reason, id FROM county_grades ORDER BY id")
    ]  # fmt: skip
    data = {"version": row[0] if row else 0, "issued_at": row[1] if row else None,
            "holds": holds, "grades": grades}  # fmt: skip
    lines = [f"county hold list version {data['version']}" + (f" ({row[1][:16]})" if row else "")]
    lines += [f"{h['hold_id']}  {h['product_code']}  {' '.join(h['identifiers'])}  {h['reason']}"
              for h in holds]  # fmt: skip
    lines += [f"{g['grade']}  {' '.join(g['identifiers'])}  {g['reason']}" for g in grades]
    _emit(args, out, data, "\n".join(lines))
    return EXIT_OK


def _emit(args: argparse.Namespace, out: TextIO, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2), file=out)
    elif text:
        print(text, file=out)
