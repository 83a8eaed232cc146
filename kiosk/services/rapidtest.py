"""The rapid-test service: samples, reader runs, verdicts, holds, alarms and lab referrals.

A run, in order:

1. Staff register each sample (barcode, producer, product, what was used on the crop).
2. The service checks the method fits the product and that no case is closed, records
   the run as ``running`` (so a crash leaves a trace), then asks the reader for raw data
   (enzyme: one control channel with buffer and no inhibitor, plus sample channels;
   strip: one strip, read inside the kit's window after the sample was applied).
3. A ``LinkError`` (reset mid-measurement, unplugged cable) marks the run ``failed`` and
   raises ``ReaderFailure``: no verdict is recorded from a run that did not finish.
4. Readings are pure functions of the stored raw data and method snapshot
   (kiosk/domain/rapidtest_verdict.py), so every verdict recomputes (``recompute``).
5. The re-test state machine (kiosk/domain/rapidtest_cases.py) turns each reading into the
   recorded verdict. In one transaction: the run's raw data, every result, one
   ``rapidtest.result`` event per result and, for a confirmed positive, the hold
   (``hold.placed``), an ``alarm.raised`` (code ``rapidtest_positive``) and the lab
   referral with the sample retained and the 4-hour dispute deadline (a disputed rapid
   result is re-tested by a lab method, never by a rapid one).

Enzyme interference: products flagged ``enzyme_interference`` in products.toml (leek,
onion, garlic, celery, coriander, mushrooms, tomato) give false positives by the enzyme
method. Their results carry ``interference`` in the detail, ``advice_for`` warns before
a run, and a first positive advises re-testing the second portion with whole-leaf
extraction or sending it to a lab. A confirmed positive on them still places the hold:
these crops are among the most often found with organophosphates, a false hold costs a
lab test and is lifted by the county, a false clearance reaches consumers.

Records and queries: kiosk/services/rapidtest_records.py; the certificate evidence rule:
kiosk/services/rapidtest_evidence.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from drivers.reader.base import EnzymeRun, StripProfile, TestReader
from kiosk.domain.catalogue import Catalogue
from kiosk.domain.model import CertificateRequest
from kiosk.domain.rapidtest_cases import (
    CONFIRMED,
    RETEST_REQUIRED,
    UNRESOLVED,
    PriorResult,
    case_state,
    decide,
    next_portion,
)
from kiosk.domain.rapidtest_kits import KitLot
from kiosk.domain.rapidtest_methods import EnzymeMethod, MethodBook, StripMethod, method_from_dict
from kiosk.domain.rapidtest_verdict import (
    INVALID,
    POSITIVE,
    SUSPICIOUS,
    VALUE_DECIMALS,
    Curve,
    enzyme_readout,
    strip_readout,
)
from kiosk.infra.alarms import Alarms
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.services import rapidtest_evidence, rapidtest_referrals
from kiosk.services.holds import Hold, HoldRegistry
from kiosk.services.rapidtest_records import (
    LabReferral,
    RapidTestError,
    RapidTestRecords,
    RapidTestSettings,
    ReaderFailure,
    Recomputed,
    RunOutcome,
    Sample,
    SampleSlot,
    TestResult,
)
from readerlink.errors import LinkError
from wire import events

log = logging.getLogger(__name__)

#: Called while a run goes on: (phase "waiting" | "measuring", elapsed s, total s).
RunProgress = Callable[[str, float, float], None]
STRIP_CHANNEL = "strip"
ALARM_CODE = "rapidtest_positive"


@dataclass
class _Planned:
    sample: Sample
    channel: int | str
    portion: int
    history: list[PriorResult]


class RapidTestService(RapidTestRecords):
    """Runs rapid tests on a ``TestReader`` and records what they mean."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        alarms: Alarms,
        holds: HoldRegistry,
        catalogue: Catalogue,
        methods: MethodBook,
        reader: TestReader | None,
        clock: Callable[[], datetime],
        settings: RapidTestSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            store=store, catalogue=catalogue, methods=methods, clock=clock, settings=settings
        )
        self.outbox = outbox
        self.alarms = alarms
        self.holds = holds
        self.reader = reader
        self.sleep = sleep

    def banned_declared(
        self, producer_key: str, producer_name: str, product_code: str, codes: list[str]
    ) -> None:
        """Refuse the sample, with alarm ``banned_input_declared`` and an audit row, as a
        certificate declaring it is refused (kiosk/services/issuance.py)."""
        product = self.catalogue.products[product_code]
        banned = [self.catalogue.inputs[c] for c in codes]
        names = "、".join(i.name for i in banned)
        detail = {
            "producer_key": producer_key,
            "issuer_name": producer_name,
            "product_code": product.code,
            "product_name": product.name,
            "inputs": list(codes),
            "sources": sorted({i.source for i in banned}),
            "at": "sample",
        }
        message = f"样品申报使用禁用投入品：{names}（{product.name}，{producer_name}）"
        with self.store.transaction():
            self.alarms.raise_(
                "banned_input_declared", "critical", message, detail,
                subject=f"{producer_key}/{product.code}",
            )  # fmt: skip
            self.holds.audit.append("sample.refused", {"reason": "banned_input", **detail})
        log.warning("sample refused: banned input %s declared for %s", names, product.code)
        super().banned_declared(producer_key, producer_name, product_code, codes)

    def advice_for(self, method_id: str, product_code: str) -> str | None:
        """A warning to show before running this method on this product, if any."""
        method = self.methods.get(method_id)
        product = self.catalogue.products.get(product_code)
        if product and method.kind == "enzyme" and product.enzyme_interference:
            return (
                f"{product.name}含硫或色素较多，酶抑制法易出现假阳性：请整叶浸提、不要切碎；"
                "阳性结果须用第二份样品复检，必要时送实验室确证。"
            )
        return None

    # -- runs ---------------------------------------------------------------------

    def run_enzyme(
        self,
        method_id: str,
        slots: Sequence[SampleSlot],
        *,
        control_channel: int = 0,
        progress: RunProgress | None = None,
        tester: str = "",
        kit_lot: str | None = None,
    ) -> RunOutcome:
        """One enzyme-inhibition run: a control channel plus one channel per sample;
        ``tester`` is the logged-in staff member's name, ``kit_lot`` the reagent lot
        (scanned code or typed number), both kept on the run and its results."""
        method = self._method(method_id, EnzymeMethod)
        if not slots:
            raise RapidTestError("no_samples", "请至少放入一个样品")
        channels = [s.channel for s in slots]
        if len(set(channels)) != len(channels) or control_channel in channels:
            raise RapidTestError("channels", "每个样品和对照须使用不同的通道")
        if len({s.sample_id for s in slots}) != len(slots):
            raise RapidTestError("channels", "同一样品在一次检测中只能放一个通道")
        planned = [self._plan(method, s.sample_id, s.channel, s.portion) for s in slots]
        lot = self.resolve_kit_lot(method, kit_lot)
        reader = self._reader()
        info = self._reader_call(reader.info)
        for ch in [control_channel, *channels]:
            if not isinstance(ch, int) or not 0 <= ch < info.channels:
                raise RapidTestError(
                    "channels", f"通道{ch}不存在（本读数仪为0–{info.channels - 1}）"
                )
        run_key, started = self._start_run(method, info, control_channel, tester, lot)
        run: EnzymeRun = self._measure(
            run_key,
            lambda: reader.run_enzyme(
                sorted([control_channel, *channels]), method.duration_s, method.interval_s
            ),
            method.duration_s,
            progress,
        )
        raw = {
            "reader_run_id": run.run_id,
            "curves": {
                str(ch): {"times_s": list(c.times_s), "absorbance": list(c.absorbance)}
                for ch, c in run.curves.items()
            },
            "temperatures_c": list(run.temperatures_c),
        }
        readout = enzyme_readout(method, _curves(raw), run.temperatures_c, control_channel)
        readings = []
        for plan in planned:
            channel = readout.channels[int(plan.channel)]
            product = self.catalogue.products[plan.sample.product_code]
            detail = {
                "control_channel": control_channel,
                "control_delta_a": readout.control_delta_a,
                "delta_a": channel.delta_a,
                "temperature_range": list(readout.temperature_range),
                "interference": product.enzyme_interference,
            }
            readings.append(
                (plan, channel.reading, channel.inhibition_percent, readout.invalid_reason, detail)
            )
        return self._finish(method, run_key, started, raw, run.run_id, readings, tester, lot)

    def run_strip(
        self,
        method_id: str,
        sample_id: str,
        *,
        portion: int | None = None,
        applied_at: datetime | None = None,
        progress: RunProgress | None = None,
        tester: str = "",
        kit_lot: str | None = None,
    ) -> RunOutcome:
        """Read one strip; waits until the kit's read window opens after `applied_at`.
        The kit lot's cut-offs and control-line rule replace the method's defaults."""
        method = self._method(method_id, StripMethod)
        plan = self._plan(method, sample_id, STRIP_CHANNEL, portion)
        lot = self.resolve_kit_lot(method, kit_lot)
        if lot is not None:
            method = lot.applied_to(method)
        reader = self._reader()
        applied = applied_at or self.clock()
        self._wait_until(applied + timedelta(minutes=method.read_window_min[0]), applied, progress)
        info = self._reader_call(reader.info)
        run_key, started = self._start_run(method, info, None, tester, lot)
        profile: StripProfile = self._measure(run_key, reader.read_strip, 0.0, progress)
        read_at = self.clock()
        read_after_min = (read_at - applied).total_seconds() / 60
        raw = {
            "reader_run_id": profile.run_id,
            "step_mm": profile.step_mm,
            "intensities": list(profile.intensities),
            "applied_at": applied.isoformat(),
            "read_at": read_at.isoformat(),
            "read_after_min": read_after_min,
        }
        out = strip_readout(method, profile.intensities, profile.step_mm, read_after_min)
        detail = {"t_height": out.t_height, "c_height": out.c_height,
                  "read_after_min": read_after_min}  # fmt: skip
        readings = [(plan, out.reading, out.ratio, out.invalid_reason, detail)]
        return self._finish(method, run_key, started, raw, profile.run_id, readings, tester, lot)

    def _method(self, method_id: str, kind: type) -> Any:
        try:
            method = self.methods.get(method_id)
        except ValueError as error:
            raise RapidTestError("unknown_method", str(error)) from None
        if not isinstance(method, kind):
            raise RapidTestError(
                "method_kind",
                f"{method.id}是{'酶抑制法' if method.kind == 'enzyme' else '试纸条'}方法",
            )
        return method

    def _plan(
        self, method: Any, sample_id: str, channel: int | str, portion: int | None
    ) -> _Planned:
        sample = self.sample(sample_id)
        refusal = self.method_scope(method, sample.product_code)
        if refusal is not None:
            raise RapidTestError("matrix", f"{refusal[0]}，请选择适用的方法")
        history = self._history(sample_id, method.id)
        if case_state(history) == CONFIRMED:
            raise RapidTestError(
                "case_closed", f"样品{sample_id}已确认阳性，不再做快检；如有异议请申请实验室复检"
            )
        if portion is not None and (not isinstance(portion, int) or portion < 1):
            raise RapidTestError("portion", "样品份号从1开始")
        return _Planned(sample, channel, portion or next_portion(history), history)

    def _reader(self) -> TestReader:
        if self.reader is None:
            raise RapidTestError("no_reader", "本机没有配置快检读数仪")
        return self.reader

    @staticmethod
    def _reader_call(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except LinkError as error:
            raise ReaderFailure("reader", f"读数仪通信失败：{error}。请检查连接后重试") from error

    def _start_run(
        self, method: Any, info: Any, control: int | None, tester: str, lot: KitLot | None
    ) -> tuple[str, str]:
        started = self.clock().isoformat()
        # Referrals still without a lab result are raised whenever the station tests
        # (no timer needed for a station that tests daily; `kiosk referrals overdue`).
        self.raise_overdue_referrals()
        with self.store.transaction():
            seq = self.store.advance_counter("rapidtest_run_seq")
            run_key = f"{self.outbox.device_id}-R{seq:06d}"
            self.store.conn.execute(
                "INSERT INTO rapid_runs (run_key, method_id, kind, method_json, reader_serial, "
                "reader_firmware, control_channel, state, started_at, tester, kit_lot, "
                "kit_expires) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                [run_key, method.id, method.kind, json.dumps(method.as_dict(), ensure_ascii=False),
                 info.serial_number, info.firmware_version, control, started, tester,
                 lot.lot if lot else None, lot.expires_on.isoformat() if lot else None],
            )  # fmt: skip
        log.info("rapid-test run %s (%s) started", run_key, method.id)
        return run_key, started

    def _measure(
        self, run_key: str, call: Callable[[], Any], total_s: float, progress: RunProgress | None
    ) -> Any:
        """The reader call, with progress ticks; a failure marks the run and records nothing."""
        try:
            return self._with_progress(call, total_s, progress)
        except (LinkError, ValueError) as error:
            with self.store.transaction():
                self.store.conn.execute(
                    "UPDATE rapid_runs SET state = 'failed', error = ?, finished_at = ? "
                    "WHERE run_key = ?",
                    [str(error)[:500], self.clock().isoformat(), run_key],
                )
            log.warning("rapid-test run %s failed: %s", run_key, error)
            if isinstance(error, LinkError):
                raise ReaderFailure(
                    "reader", f"检测中读数仪出错（{error}），本次检测没有结果，请重新检测"
                ) from error
            raise RapidTestError("reader_request", f"读数仪拒绝了本次检测：{error}") from error

    def _with_progress(
        self, call: Callable[[], Any], total_s: float, progress: RunProgress | None
    ) -> Any:
        if progress is None:
            return call()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = call()
            except BaseException as error:  # handed to the caller's thread below
                box["error"] = error

        worker = threading.Thread(target=work, name="rapidtest-run", daemon=True)
        scale = self.reader.time_scale if self.reader is not None else 1.0
        progress("measuring", 0.0, total_s)  # the full time first, however late the thread runs
        started = time.monotonic()
        worker.start()
        worker.join(self.settings.progress_tick_s)
        while worker.is_alive():
            elapsed = (time.monotonic() - started) * scale  # in device seconds
            progress("measuring", min(elapsed, total_s), total_s)
            worker.join(self.settings.progress_tick_s)
        if "error" in box:
            raise box["error"]
        progress("measuring", total_s, total_s)
        return box["value"]

    def _wait_until(self, when: datetime, since: datetime, progress: RunProgress | None) -> None:
        total = (when - since).total_seconds()
        while True:
            remaining = (when - self.clock()).total_seconds()
            if progress is not None:
                progress("waiting", max(0.0, total - max(remaining, 0.0)), total)
            if remaining <= 0:
                return
            self.sleep(min(remaining, self.settings.progress_tick_s))

    def _finish(
        self,
        method: Any,
        run_key: str,
        started: str,
        raw: dict[str, Any],
        reader_run_id: int,
        readings: list[tuple[_Planned, str, float | None, str | None, dict[str, Any]]],
        tester: str = "",
        lot: KitLot | None = None,
    ) -> RunOutcome:
        """Record the run's data, results, events and any hold/alarm/referral at once."""
        finished = self.clock()
        results, holds, referrals = [], [], []
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE rapid_runs SET state = 'done', raw_json = ?, reader_run_id = ?, "
                "finished_at = ? WHERE run_key = ?",
                [json.dumps(raw), reader_run_id, finished.isoformat(), run_key],
            )
            for plan, reading, value, reason, detail in readings:
                decision = decide(plan.history, plan.portion, reading, method.retest_portions)
                seq = self.store.advance_counter("rapidtest_seq")
                result = TestResult(
                    test_id=f"{self.outbox.device_id}-T{seq:06d}",
                    run_key=run_key,
                    sample_id=plan.sample.sample_id,
                    method_id=method.id,
                    analyte=method.analyte,
                    portion=plan.portion,
                    channel=str(plan.channel),
                    value=value,
                    unit=method.unit,
                    reading=reading,
                    verdict=decision.verdict,
                    status=decision.status,
                    reason=reason,
                    advice=None,
                    retest_of=decision.retest_of,
                    started_at=started,
                    finished_at=finished.isoformat(),
                    detail=detail,
                    tester=tester,
                    kit_lot=lot.lot if lot else "",
                )
                deadline = finished + self.settings.dispute_window
                result = replace(result, advice=self._advice(method, result, deadline))
                self._insert_result(result)
                self.outbox.enqueue(self._event(plan, result))
                if decision.status == CONFIRMED:
                    hold, referral = self._confirmed(method, plan.sample, result, deadline)
                    self._alarm(result, plan, hold)
                    holds.append(hold)
                    referrals.append(referral)
                results.append(result)
        for r in results:
            log.info("%s %s: %s (%s) %s", r.test_id, r.sample_id, r.verdict, r.status, r.value)
        return RunOutcome(run_key, method.id, tuple(results), tuple(holds), tuple(referrals))

    def _confirmed(
        self, method: Any, sample: Sample, result: TestResult, deadline: datetime
    ) -> tuple[Hold, LabReferral]:
        """Hold (with its hold.placed event) and the lab referral, in the caller's transaction."""
        reason = f"{method.standard}快检确认阳性，检测编号{result.test_id}"
        hold = self.holds.place(
            sample.producer_key, sample.product_code, reason, f"rapidtest:{result.test_id}"
        )
        cursor = self.store.conn.execute(
            "INSERT INTO lab_referrals (test_id, sample_id, producer_key, product_code, "
            "lab_methods, hold_id, sample_retained, referred_at, dispute_deadline) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [result.test_id, sample.sample_id, sample.producer_key, sample.product_code,
             json.dumps(list(method.lab_methods), ensure_ascii=False), hold.id,
             result.finished_at, deadline.isoformat()],
        )  # fmt: skip
        log.warning("confirmed positive %s: hold %d placed on %s/%s", result.test_id, hold.id,
                    sample.producer_key, sample.product_code)  # fmt: skip
        return hold, self._referrals_where("WHERE id = ?", [cursor.lastrowid])[0]

    def _advice(self, method: Any, result: TestResult, deadline: datetime) -> str | None:
        interference = bool(result.detail.get("interference"))
        if result.status == INVALID:
            return "本次检测无效（不是阴性）：请检查试剂、温度或试纸条后重新检测"
        if result.status == RETEST_REQUIRED:
            done = len({r.portion for r in self._history(result.sample_id, method.id)
                        if r.reading == POSITIVE} | {result.portion})  # fmt: skip
            left = max(1, 1 + method.retest_portions - done)
            text = (
                f"初检阳性：请取同一样品的另一份样重新检测（按{method.standard}，阳性须再经"
                f"{method.retest_portions}份样复检确认，还需{left}份）；结果确认前该样品不能作为合格依据"
            )
            if interference:
                text += "。该产品易致酶抑制法假阳性，复检请整叶浸提，必要时送实验室确证"
            return text
        if result.status == UNRESOLVED:
            return "复检与初检不一致：该样品不能作为合格依据，可再取一份样复检或送实验室检测"
        if result.status == CONFIRMED:
            return (
                f"确认阳性：已暂停该生产者该产品开证，样品已留存并登记送实验室确证"
                f"（{'、'.join(method.lab_methods)}）；如有异议，请在{deadline:%m月%d日%H:%M}前"
                "申请复检，复检不得采用快速检测方法"
            )
        if result.verdict == SUSPICIOUS:
            return "结果接近判定限：建议重新检测，该结果不能作为合格依据"
        return None

    def _event(self, plan: _Planned, r: TestResult) -> events.Event:
        """The value of an invalid run is not sent."""
        value = None if r.value is None or r.verdict == INVALID else round(r.value, VALUE_DECIMALS)
        return events.rapidtest_result(
            test_id=r.test_id,
            sample_id=r.sample_id,
            producer_key=plan.sample.producer_key,
            product_code=plan.sample.product_code,
            method=r.method_id,
            analyte=r.analyte,
            channel=int(r.channel) if r.channel.isdigit() else r.channel,
            verdict=r.verdict,
            value=value,
            unit=r.unit,
            retest_of=r.retest_of,
            started_at=r.started_at,
            finished_at=r.finished_at,
            raw_ref=f"run:{r.run_key}",
            batch_id=(f"{self.outbox.device_id}-{r.sample_id}"
                      if plan.sample.batch_quantity is not None else None),
            kit_lot=r.kit_lot or None,
        )  # fmt: skip

    def _alarm(self, r: TestResult, plan: _Planned, hold: Hold) -> None:
        product = self.catalogue.products[plan.sample.product_code].name
        self.alarms.raise_(
            ALARM_CODE,
            "critical",
            f"{plan.sample.producer_name}的{product}快检确认阳性（{r.test_id}），已暂停开证",
            {
                "test_id": r.test_id,
                "sample_id": r.sample_id,
                "producer_key": plan.sample.producer_key,
                "product_code": plan.sample.product_code,
                "method": r.method_id,
                "value": None if r.value is None else round(r.value, VALUE_DECIMALS),
                "unit": r.unit,
                "hold_id": hold.id,
            },
            subject=r.test_id,
        )

    # -- queries ------------------------------------------------------------------

    def recompute(self, test_id: str) -> Recomputed:
        """The reading and value again, from the stored raw data and method snapshot."""
        result = self.result(test_id)
        method_json, raw_json, control = self.store.conn.execute(
            "SELECT method_json, raw_json, control_channel FROM rapid_runs WHERE run_key = ?",
            [result.run_key],
        ).fetchone()
        method = method_from_dict(json.loads(method_json))
        raw = json.loads(raw_json)
        if isinstance(method, EnzymeMethod):
            out = enzyme_readout(method, _curves(raw), raw["temperatures_c"], control)
            ch = out.channels[int(result.channel)]
            return Recomputed(ch.reading, ch.inhibition_percent)
        strip = strip_readout(method, raw["intensities"], raw["step_mm"], raw["read_after_min"])
        return Recomputed(strip.reading, strip.ratio)

    def evidence(self, request: CertificateRequest) -> str | tuple[str, str] | None:
        """IssuanceService's check of a 自行检测合格 basis; a refusal in plain words, or None."""
        return rapidtest_evidence.evidence(self, request)

    def confirm_retained(self, referral_id: int, by: str) -> LabReferral:
        """The tester confirms the retained sample (kiosk/services/rapidtest_referrals.py)."""
        return rapidtest_referrals.confirm_retained(self, referral_id, by)

    def record_lab_result(self, referral_id: int, **result: Any) -> LabReferral:
        """The lab's result closes the referral: confirmed keeps the hold, cleared lifts it."""
        return rapidtest_referrals.record_lab_result(self, referral_id, **result)

    def raise_overdue_referrals(self) -> list[int]:
        """``referral_overdue`` for open referrals past the due time; their ids."""
        return rapidtest_referrals.raise_overdue(self, self.settings.referral_due)

    def sample_of(self, test_ref: str) -> str | None:
        """The sample (and so the batch) a test was run on."""
        return rapidtest_evidence.sample_of(self, test_ref)

    def passing_test(self, request: CertificateRequest) -> str | None:
        """A recent negative test that would back ``request`` (the touch UI offers it)."""
        return rapidtest_evidence.passing_test(self, request)


def _curves(raw: dict[str, Any]) -> dict[int, Curve]:
    return {
        int(ch): Curve(tuple(c["times_s"]), tuple(c["absorbance"]))
        for ch, c in raw["curves"].items()
    }
