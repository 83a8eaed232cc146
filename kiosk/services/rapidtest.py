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

``evidence`` is the issuance service's check for 自行检测合格: the ``test_ref`` must be a
negative, final result of this kiosk for the same producer and product, not older than
the configured age, on a sample with no open positive, and the sample's negative
results together must cover every input class the request says was used.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from drivers.reader.base import EnzymeRun, StripProfile, TestReader
from kiosk.domain.catalogue import Catalogue, OutOfScopeError
from kiosk.domain.model import Basis, CertificateRequest, Issuer
from kiosk.domain.rapidtest_cases import (
    CONFIRMED,
    FINAL,
    RETEST_REQUIRED,
    UNRESOLVED,
    UNTESTED,
    PriorResult,
    case_state,
    decide,
    next_portion,
)
from kiosk.domain.rapidtest_methods import EnzymeMethod, MethodBook, StripMethod, method_from_dict
from kiosk.domain.rapidtest_verdict import (
    INVALID,
    NEGATIVE,
    POSITIVE,
    SUSPICIOUS,
    VALUE_DECIMALS,
    Curve,
    enzyme_readout,
    strip_readout,
)
from kiosk.domain.validation import InputError
from kiosk.infra.alarms import Alarms
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.services.holds import Hold, HoldRegistry
from readerlink.errors import LinkError
from wire import events

log = logging.getLogger(__name__)

#: Called while a run goes on: (phase "waiting" | "measuring", elapsed s, total s).
RunProgress = Callable[[str, float, float], None]

DEFAULT_EVIDENCE_AGE = timedelta(days=7)
#: A disputed rapid result may be re-tested (by a lab method) within this time.
DISPUTE_WINDOW = timedelta(hours=4)
PROGRESS_TICK_S = 1.0
STRIP_CHANNEL = "strip"
ALARM_CODE = "rapidtest_positive"

_SAMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
MAX_NAME_CHARS = 16
MAX_NOTE_CHARS = 200
VERDICT_ZH = {NEGATIVE: "阴性", SUSPICIOUS: "可疑", POSITIVE: "阳性", INVALID: "无效"}


class RapidTestError(Exception):
    """The service will not do this; ``message`` says why in plain words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ReaderFailure(RapidTestError):
    """The reader failed or went away during a run; no verdict was recorded."""


@dataclass(frozen=True)
class RapidTestSettings:
    evidence_max_age: timedelta = DEFAULT_EVIDENCE_AGE
    dispute_window: timedelta = DISPUTE_WINDOW
    progress_tick_s: float = PROGRESS_TICK_S


@dataclass(frozen=True)
class Sample:
    sample_id: str
    producer_key: str
    producer_name: str
    phone: str
    product_code: str
    inputs_used: tuple[str, ...]
    note: str
    registered_at: str


@dataclass(frozen=True)
class SampleSlot:
    """One sample in a run: its reader channel, and the portion (None: the service picks)."""

    sample_id: str
    channel: int
    portion: int | None = None


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    test_id: str
    run_key: str
    sample_id: str
    method_id: str
    analyte: str
    portion: int
    channel: str
    value: float | None
    unit: str
    reading: str
    verdict: str
    status: str
    reason: str | None
    advice: str | None
    retest_of: str | None
    started_at: str
    finished_at: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LabReferral:
    id: int
    test_id: str
    sample_id: str
    producer_key: str
    product_code: str
    lab_methods: tuple[str, ...]
    hold_id: int | None
    sample_retained: bool
    referred_at: str
    dispute_deadline: str
    state: str


@dataclass(frozen=True)
class RunOutcome:
    run_key: str
    method_id: str
    results: tuple[TestResult, ...]
    holds: tuple[Hold, ...] = ()
    referrals: tuple[LabReferral, ...] = ()


@dataclass(frozen=True)
class Recomputed:
    reading: str
    value: float | None


@dataclass
class _Planned:
    sample: Sample
    channel: int | str
    portion: int
    history: list[PriorResult]


class RapidTestService:
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
        self.store = store
        self.outbox = outbox
        self.alarms = alarms
        self.holds = holds
        self.catalogue = catalogue
        self.methods = methods
        self.reader = reader
        self.clock = clock
        self.settings = settings or RapidTestSettings()
        self.sleep = sleep

    # -- samples ------------------------------------------------------------------

    def register_sample(
        self,
        sample_id: str,
        *,
        producer_name: str,
        phone: str,
        product_code: str,
        producer_id: str | None = None,
        inputs_used: Sequence[str] = (),
        note: str = "",
    ) -> Sample:
        """Record a sample; registering the same sample again with the same data is a no-op."""
        sample_id = (sample_id or "").strip()
        if not _SAMPLE_ID.match(sample_id):
            raise InputError("sample_id", "sample_id", "样品编号只能含字母、数字和连字符，最多32位")
        name = (producer_name or "").strip()
        if not 1 <= len(name) <= MAX_NAME_CHARS:
            raise InputError("producer_name", "name", f"请填写生产者名称（{MAX_NAME_CHARS}字以内）")
        phone = (phone or "").strip().replace(" ", "")
        if not _PHONE.match(phone):
            raise InputError("phone", "phone", "联系电话格式不对：请输入11位手机号或带区号的座机号")
        try:
            product = self.catalogue.product_for_certificate(product_code)
        except OutOfScopeError as error:
            raise InputError("product", "out_of_scope", str(error)) from None
        inputs = tuple(dict.fromkeys(i.strip() for i in inputs_used if i.strip()))
        unknown = [code for code in inputs if code not in self.catalogue.inputs]
        if unknown:
            raise InputError(
                "inputs_used", "unknown_input", f"未知的投入品类别：{'、'.join(unknown)}"
            )
        if len(note) > MAX_NOTE_CHARS:
            raise InputError("note", "too_long", f"备注最多{MAX_NOTE_CHARS}字")
        key = Issuer(name, phone, (producer_id or "").strip() or None).producer_key
        sample = Sample(
            sample_id, key, name, phone, product.code, inputs, note, self.clock().isoformat()
        )
        with self.store.transaction():
            existing = self._sample_or_none(sample_id)
            if existing is not None:
                same = (existing.producer_key, existing.product_code, existing.inputs_used) == (
                    key, product.code, inputs,
                )  # fmt: skip
                if not same:
                    raise RapidTestError(
                        "duplicate_sample", f"样品编号{sample_id}已登记为其他生产者或产品"
                    )
                return existing
            self.store.conn.execute(
                "INSERT INTO rapid_samples (sample_id, producer_key, producer_name, phone, "
                "product_code, inputs_used, note, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [sample_id, key, name, phone, product.code, json.dumps(list(inputs)), note,
                 sample.registered_at],
            )  # fmt: skip
        log.info("sample %s registered (%s, %s)", sample_id, key, product.code)
        return sample

    def sample(self, sample_id: str) -> Sample:
        found = self._sample_or_none(sample_id)
        if found is None:
            raise RapidTestError("unknown_sample", f"样品{sample_id}尚未登记，请先登记样品")
        return found

    def _sample_or_none(self, sample_id: str) -> Sample | None:
        row = self.store.conn.execute(
            "SELECT sample_id, producer_key, producer_name, phone, product_code, inputs_used, "
            "note, registered_at FROM rapid_samples WHERE sample_id = ?",
            [sample_id],
        ).fetchone()
        if row is None:
            return None
        return Sample(*row[:5], tuple(json.loads(row[5])), row[6], row[7])

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
    ) -> RunOutcome:
        """One enzyme-inhibition run: a control channel plus one channel per sample."""
        method = self._method(method_id, EnzymeMethod)
        if not slots:
            raise RapidTestError("no_samples", "请至少放入一个样品")
        channels = [s.channel for s in slots]
        if len(set(channels)) != len(channels) or control_channel in channels:
            raise RapidTestError("channels", "每个样品和对照须使用不同的通道")
        if len({s.sample_id for s in slots}) != len(slots):
            raise RapidTestError("channels", "同一样品在一次检测中只能放一个通道")
        planned = [self._plan(method, s.sample_id, s.channel, s.portion) for s in slots]
        reader = self._reader()
        info = self._reader_call(reader.info)
        for ch in [control_channel, *channels]:
            if not isinstance(ch, int) or not 0 <= ch < info.channels:
                raise RapidTestError(
                    "channels", f"通道{ch}不存在（本读数仪为0–{info.channels - 1}）"
                )
        run_key, started = self._start_run(method, info, control_channel)
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
            ch = readout.channels[int(plan.channel)]
            product = self.catalogue.products[plan.sample.product_code]
            detail = {
                "control_channel": control_channel,
                "control_delta_a": readout.control_delta_a,
                "delta_a": ch.delta_a,
                "temperature_range": list(readout.temperature_range),
                "interference": product.enzyme_interference,
            }
            readings.append(
                (plan, ch.reading, ch.inhibition_percent, readout.invalid_reason, detail)
            )
        return self._finish(method, run_key, started, raw, run.run_id, readings)

    def run_strip(
        self,
        method_id: str,
        sample_id: str,
        *,
        portion: int | None = None,
        applied_at: datetime | None = None,
        progress: RunProgress | None = None,
    ) -> RunOutcome:
        """Read one strip; waits until the kit's read window opens after `applied_at`."""
        method = self._method(method_id, StripMethod)
        plan = self._plan(method, sample_id, STRIP_CHANNEL, portion)
        reader = self._reader()
        applied = applied_at or self.clock()
        self._wait_until(applied + timedelta(minutes=method.read_window_min[0]), applied, progress)
        info = self._reader_call(reader.info)
        run_key, started = self._start_run(method, info, None)
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
        return self._finish(method, run_key, started, raw, profile.run_id, readings)

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
        product = self.catalogue.products[sample.product_code]
        if product.category not in method.matrices:
            category = self.catalogue.categories[product.category].name
            raise RapidTestError(
                "matrix", f"{method.name}不适用于{product.name}（{category}），请选择适用的方法"
            )
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

    def _start_run(self, method: Any, info: Any, control: int | None) -> tuple[str, str]:
        started = self.clock().isoformat()
        with self.store.transaction():
            seq = self.store.advance_counter("rapidtest_run_seq")
            run_key = f"{self.outbox.device_id}-R{seq:06d}"
            self.store.conn.execute(
                "INSERT INTO rapid_runs (run_key, method_id, kind, method_json, reader_serial, "
                "reader_firmware, control_channel, state, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                [run_key, method.id, method.kind, json.dumps(method.as_dict(), ensure_ascii=False),
                 info.serial_number, info.firmware_version, control, started],
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
        started = time.monotonic()
        worker.start()
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
                decision = decide(plan.history, plan.portion, reading)
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
            "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
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
            text = "初检阳性：请取同一样品的另一份样重新检测；结果确认前该样品不能作为合格依据"
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

    def _insert_result(self, r: TestResult) -> None:
        self.store.conn.execute(
            "INSERT INTO rapid_results (test_id, run_key, sample_id, method_id, analyte, portion, "
            "channel, value, unit, reading, verdict, status, reason, advice, detail_json, "
            "retest_of, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r.test_id, r.run_key, r.sample_id, r.method_id, r.analyte, r.portion, r.channel,
             r.value, r.unit, r.reading, r.verdict, r.status, r.reason, r.advice,
             json.dumps(r.detail), r.retest_of, r.started_at, r.finished_at],
        )  # fmt: skip

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
        )

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

    def _history(self, sample_id: str, method_id: str) -> list[PriorResult]:
        rows = self.store.conn.execute(
            "SELECT test_id, portion, reading, status FROM rapid_results "
            "WHERE sample_id = ? AND method_id = ? ORDER BY finished_at, test_id",
            [sample_id, method_id],
        ).fetchall()
        return [PriorResult(*row) for row in rows]

    def case_state(self, sample_id: str, method_id: str) -> str:
        """untested, negative, suspicious, invalid, retest_required, unresolved or confirmed."""
        return case_state(self._history(sample_id, method_id))

    def result(self, test_id: str) -> TestResult:
        found = self._results("WHERE test_id = ?", [test_id])
        if not found:
            raise RapidTestError("unknown_test", f"没有检测编号为{test_id}的快检结果")
        return found[0]

    def results(self, sample_id: str | None = None, limit: int = 50) -> list[TestResult]:
        """Newest first."""
        where, params = ("WHERE sample_id = ?", [sample_id]) if sample_id else ("", [])
        return self._results(f"{where} ORDER BY finished_at DESC, test_id DESC LIMIT ?",
                             [*params, int(limit)])  # fmt: skip

    def _results(self, tail: str, params: list[Any]) -> list[TestResult]:
        rows = self.store.conn.execute(
            "SELECT test_id, run_key, sample_id, method_id, analyte, portion, channel, value, "
            "unit, reading, verdict, status, reason, advice, retest_of, started_at, "
            f"finished_at, detail_json FROM rapid_results {tail}",
            params,
        ).fetchall()
        return [TestResult(*row[:17], detail=json.loads(row[17])) for row in rows]

    def referrals(self, state: str | None = "open") -> list[LabReferral]:
        """Lab referrals (open ones by default), oldest first."""
        if state:
            return self._referrals_where("WHERE state = ?", [state])
        return self._referrals_where("", [])

    def _referrals_where(self, where: str, params: list[Any]) -> list[LabReferral]:
        rows = self.store.conn.execute(
            "SELECT id, test_id, sample_id, producer_key, product_code, lab_methods, hold_id, "
            f"sample_retained, referred_at, dispute_deadline, state FROM lab_referrals {where} "
            "ORDER BY id",
            params,
        ).fetchall()
        return [_referral(row) for row in rows]

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

    # -- certificate evidence -----------------------------------------------------

    def evidence(self, request: CertificateRequest) -> str | None:
        """IssuanceService's check of a 自行检测合格 basis; a refusal in plain words, or None."""
        if request.basis is not Basis.SELF_TEST:
            return None  # 委托检测: a lab report number, not ours to check
        ref = (request.test_ref or "").strip()
        found = self._results("WHERE test_id = ?", [ref])
        if not found:
            return f"本机没有检测编号为{ref}的快检记录：自行检测合格须以本站的快检结果为依据"
        result = found[0]
        sample = self.sample(result.sample_id)
        if (sample.producer_key, sample.product_code) != (
            request.issuer.producer_key, request.product_code,
        ):  # fmt: skip
            return f"检测编号{ref}不是该生产者该产品的检测，不能作为依据"
        if result.verdict != NEGATIVE or result.status != FINAL:
            return f"检测编号{ref}的结果为{VERDICT_ZH[result.verdict]}，不能作为合格依据"
        now = self.clock()
        max_age = self.settings.evidence_max_age
        if now - datetime.fromisoformat(result.finished_at) > max_age:
            return f"检测编号{ref}已超过{max_age.days}天，请重新检测后再开证"
        covered: set[str] = set()
        for method_id in self._methods_of(sample.sample_id):
            state = self.case_state(sample.sample_id, method_id)
            if state in (RETEST_REQUIRED, UNRESOLVED, CONFIRMED, SUSPICIOUS):
                return f"样品{sample.sample_id}另有可疑或阳性结果，不能作为合格依据"
            latest = self._latest_negative(sample.sample_id, method_id)
            if state == NEGATIVE and latest and now - latest <= max_age:
                covered.update(self.methods.methods[method_id].covers
                               if method_id in self.methods.methods else ())  # fmt: skip
        missing = [code for code in request.inputs_used if code not in covered]
        if missing:
            names = "、".join(self._input_name(c) for c in missing)
            have = "、".join(self._input_name(c) for c in sorted(covered)) or "无"
            return (
                f"检测编号{ref}只覆盖{have}，不覆盖本批使用的{names}（用什么药、检什么药）："
                "请加做相应项目的检测，或选择其他承诺依据"
            )
        return None

    def passing_test(self, request: CertificateRequest) -> str | None:
        """A recent negative test of this producer and product that would back ``request``
        as 自行检测合格 (the touch UI offers it as the basis); None when there is none."""
        rows = self.store.conn.execute(
            "SELECT sample_id FROM rapid_samples WHERE producer_key = ? AND product_code = ? "
            "ORDER BY registered_at DESC LIMIT 5",
            [request.issuer.producer_key, request.product_code],
        ).fetchall()
        for (sample_id,) in rows:
            for result in self.results(sample_id):
                if result.verdict != NEGATIVE or result.status != FINAL:
                    continue
                candidate = replace(request, basis=Basis.SELF_TEST, test_ref=result.test_id)
                if self.evidence(candidate) is None:
                    return result.test_id
        return None

    def waiting_samples(self, method_id: str, limit: int = 30) -> list[Sample]:
        """Registered samples ``method_id`` fits that still need a result (staff's run list)."""
        method = self.methods.methods[method_id]
        rows = self.store.conn.execute(
            "SELECT sample_id FROM rapid_samples ORDER BY registered_at DESC LIMIT ?", [limit]
        ).fetchall()
        out = []
        for (sample_id,) in rows:
            sample = self.sample(sample_id)
            product = self.catalogue.products[sample.product_code]
            if product.category not in method.matrices:
                continue
            if self.case_state(sample_id, method_id) in (UNTESTED, RETEST_REQUIRED):
                out.append(sample)
        return out

    def _methods_of(self, sample_id: str) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT DISTINCT method_id FROM rapid_results WHERE sample_id = ? ORDER BY method_id",
            [sample_id],
        ).fetchall()
        return [r[0] for r in rows]

    def _latest_negative(self, sample_id: str, method_id: str) -> datetime | None:
        row = self.store.conn.execute(
            "SELECT max(finished_at) FROM rapid_results WHERE sample_id = ? AND method_id = ? "
            "AND verdict = 'negative' AND status = 'final'",
            [sample_id, method_id],
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def _input_name(self, code: str) -> str:
        found = self.catalogue.inputs.get(code)
        return found.name if found else code


def _curves(raw: dict[str, Any]) -> dict[int, Curve]:
    return {
        int(ch): Curve(tuple(c["times_s"]), tuple(c["absorbance"]))
        for ch, c in raw["curves"].items()
    }


def _referral(r: Sequence[Any]) -> LabReferral:
    return LabReferral(
        id=r[0], test_id=r[1], sample_id=r[2], producer_key=r[3], product_code=r[4],
        lab_methods=tuple(json.loads(r[5])), hold_id=r[6], sample_retained=bool(r[7]),
        referred_at=r[8], dispute_deadline=r[9], state=r[10],
    )  # fmt: skip
