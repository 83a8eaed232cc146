"""Rapid-test records: samples, results and lab referrals as stored, and the queries
over them that the runs, the certificate evidence rule and the screens share.

Writes happen inside the run's transaction (kiosk/services/rapidtest.py); registering a
sample is the only write that stands alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from kiosk.domain.catalogue import Catalogue, OutOfScopeError
from kiosk.domain.model import UNIT_MAXIMUM, Issuer
from kiosk.domain.rapidtest_cases import (
    RETEST_REQUIRED,
    UNRESOLVED,
    UNTESTED,
    PriorResult,
    case_state,
)
from kiosk.domain.rapidtest_kits import KitLot, KitLotError, parse_lot_file, parse_scan
from kiosk.domain.rapidtest_methods import Method, MethodBook
from kiosk.domain.rapidtest_verdict import INVALID, NEGATIVE, POSITIVE, SUSPICIOUS
from kiosk.domain.validation import InputError, check_text, parse_quantity
from kiosk.infra.store import Store
from kiosk.services.holds import Hold
from wire.clock import CST

log = logging.getLogger(__name__)


DEFAULT_EVIDENCE_AGE = timedelta(days=7)
#: A disputed rapid result may be re-tested (by a lab method) within this time.
DISPUTE_WINDOW = timedelta(hours=4)
PROGRESS_TICK_S = 1.0

_SAMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
_PHONE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")
MAX_NAME_CHARS = 50  # a cooperative or company registers its full name
MAX_NOTE_CHARS = 200
#: Case states that keep a sample in the run list until resolved.
STILL_OPEN = (UNTESTED, INVALID, SUSPICIOUS, RETEST_REQUIRED, UNRESOLVED)
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
    #: How long after sampling a 自行检测合格 certificate may rest on the sample: 0 =
    #: the same China calendar day (the default), else 1-24 hours.
    evidence_window_h: int = 0
    dispute_window: timedelta = DISPUTE_WINDOW
    #: An open lab referral older than this raises ``referral_overdue``.
    referral_due: timedelta = timedelta(days=7)
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
    #: The production batch the sample was drawn from (按照生产批次, docs/certificates.md §3).
    batch_quantity: Decimal | None = None
    batch_unit: str | None = None
    sampling_place: str = ""
    sampled_at: str | None = None


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
    #: The staff member who ran the test (the logged-in account's name).
    tester: str = ""
    #: The kit or reagent lot the test was done with ("" before lots were recorded).
    kit_lot: str = ""


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
    retained_by: str | None = None
    retained_at: str | None = None
    lab: str | None = None
    report_number: str | None = None
    substance: str | None = None
    measured_value: str | None = None
    limit_value: str | None = None
    value_unit: str | None = None
    reported_on: str | None = None
    #: "confirmed" (the hold stays) or "cleared" (the hold lifted) once closed.
    outcome: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None


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


class RapidTestRecords:
    """Samples, results and referrals of this kiosk."""

    def __init__(
        self,
        *,
        store: Store,
        catalogue: Catalogue,
        methods: MethodBook,
        clock: Callable[[], datetime],
        settings: RapidTestSettings | None = None,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.methods = methods
        self.clock = clock
        self.settings = settings or RapidTestSettings()

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
        registered_by: str = "",
        batch_quantity: Decimal | str | None = None,
        batch_unit: str | None = None,
        sampling_place: str = "",
        sampled_at: datetime | None = None,
    ) -> Sample:
        """Record a sample; registering the same sample again with the same data is a no-op.

        ``registered_by`` is the logged-in staff member's name. The batch (declared
        quantity and unit, sampling place, time: default now) is what 自行检测合格
        certificates resting on this sample may together cover; a sample without one
        backs no certificate."""
        sample_id = (sample_id or "").strip()
        if not _SAMPLE_ID.match(sample_id):
            raise InputError("sample_id", "sample_id", "样品编号只能含字母、数字和连字符，最多32位")
        name = check_text(producer_name or "", "producer_name", "生产者名称", 1, MAX_NAME_CHARS)
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
        key = Issuer(name, phone, (producer_id or "").strip() or None).producer_key
        banned = self.catalogue.banned_inputs(inputs)
        if banned:
            self.banned_declared(key, name, product.code, [i.code for i in banned])
        note = check_text(note or "", "note", "备注", 0, MAX_NOTE_CHARS)
        batch: Decimal | None = None
        unit = None
        if batch_quantity is not None and str(batch_quantity).strip():
            batch = parse_quantity(batch_quantity)
            if batch <= 0:
                raise InputError("batch_quantity", "not_positive", "批次数量必须大于0")
            unit = batch_unit or product.default_unit
            if unit not in product.units:
                raise InputError(
                    "batch_unit", "unit", f"{product.name}的单位只能是：{'、'.join(product.units)}"
                )
            if batch > UNIT_MAXIMUM[unit]:
                raise InputError(
                    "batch_quantity", "implausible", f"批次数量超过{UNIT_MAXIMUM[unit]}{unit}"
                )
        place = check_text(sampling_place or "", "sampling_place", "抽样地点", 0, 40)
        when = (sampled_at or self.clock()).isoformat()
        sample = Sample(
            sample_id, key, name, phone, product.code, inputs, note, self.clock().isoformat(),
            batch, unit, place, when if batch is not None else None,
        )  # fmt: skip
        with self.store.transaction():
            existing = self._sample_or_none(sample_id)
            if existing is not None:
                # Say what differs: the same producer re-registering with other inputs
                # was told "another producer".
                if existing.producer_key != key:
                    differs = f"另一位生产者（{existing.producer_name}）"
                elif existing.product_code != product.code:
                    differs = f"另一产品（{existing.product_code}）"
                elif tuple(existing.inputs_used) != inputs:
                    used = "、".join(existing.inputs_used) or "无"
                    differs = f"不同的投入品（{used}）"
                else:
                    return existing
                raise RapidTestError(
                    "duplicate_sample", f"样品编号{sample_id}已登记为{differs}：请换一个样品编号"
                )
            self.store.conn.execute(
                "INSERT INTO rapid_samples (sample_id, producer_key, producer_name, phone, "
                "product_code, inputs_used, note, registered_at, registered_by, "
                "batch_quantity, batch_unit, sampling_place, sampled_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sample_id, key, name, phone, product.code, json.dumps(list(inputs)), note,
                 sample.registered_at, registered_by,
                 None if batch is None else str(batch), unit, place, sample.sampled_at],
            )  # fmt: skip
        log.info("sample %s registered (%s, %s)", sample_id, key, product.code)
        return sample

    def banned_declared(
        self, producer_key: str, producer_name: str, product_code: str, codes: list[str]
    ) -> None:
        """A banned input declared for a sample: refuse it in the farmer's words (the
        service also alarms and audits). A strip that detects 孔雀石绿 is a method; saying
        it was used is a banned input, and no test may back a certificate for it."""
        raise RapidTestError("banned_input", banned_refusal(self.catalogue, product_code, codes))

    def declared_inputs(self, test_ref: str) -> tuple[str, ...]:
        """The input classes declared for the sample a test ran on (empty if unknown):
        a 自行检测合格 certificate carries what its sample declared."""
        row = self.store.conn.execute(
            "SELECT s.inputs_used FROM rapid_results r "
            "JOIN rapid_samples s ON s.sample_id = r.sample_id WHERE r.test_id = ?",
            [(test_ref or "").strip()],
        ).fetchone()
        return tuple(json.loads(row[0])) if row else ()

    def sample(self, sample_id: str) -> Sample:
        found = self._sample_or_none(sample_id)
        if found is None:
            raise RapidTestError("unknown_sample", f"样品{sample_id}尚未登记，请先登记样品")
        return found

    def _sample_or_none(self, sample_id: str) -> Sample | None:
        row = self.store.conn.execute(
            "SELECT sample_id, producer_key, producer_name, phone, product_code, inputs_used, "
            "note, registered_at, batch_quantity, batch_unit, sampling_place, sampled_at "
            "FROM rapid_samples WHERE sample_id = ?",
            [sample_id],
        ).fetchone()
        if row is None:
            return None
        sample_id, key, name, phone, product = row[:5]
        return Sample(
            sample_id, key, name, phone, product, tuple(json.loads(row[5])), row[6], row[7],
            None if row[8] is None else Decimal(row[8]), row[9], row[10] or "", row[11],
        )  # fmt: skip

    def _insert_result(self, r: TestResult) -> None:
        self.store.conn.execute(
            "INSERT INTO rapid_results (test_id, run_key, sample_id, method_id, analyte, portion, "
            "channel, value, unit, reading, verdict, status, reason, advice, detail_json, "
            "retest_of, started_at, finished_at, tester, kit_lot) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r.test_id, r.run_key, r.sample_id, r.method_id, r.analyte, r.portion, r.channel,
             r.value, r.unit, r.reading, r.verdict, r.status, r.reason, r.advice,
             json.dumps(r.detail), r.retest_of, r.started_at, r.finished_at, r.tester,
             r.kit_lot],
        )  # fmt: skip

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
        found = self.results_where("WHERE test_id = ?", [test_id])
        if not found:
            raise RapidTestError("unknown_test", f"没有检测编号为{test_id}的快检结果")
        return found[0]

    def results(self, sample_id: str | None = None, limit: int = 50) -> list[TestResult]:
        """Newest first."""
        where, params = ("WHERE sample_id = ?", [sample_id]) if sample_id else ("", [])
        return self.results_where(f"{where} ORDER BY finished_at DESC, test_id DESC LIMIT ?",
                             [*params, int(limit)])  # fmt: skip

    def results_where(self, tail: str, params: list[Any]) -> list[TestResult]:
        rows = self.store.conn.execute(
            "SELECT test_id, run_key, sample_id, method_id, analyte, portion, channel, value, "
            "unit, reading, verdict, status, reason, advice, retest_of, started_at, "
            f"finished_at, detail_json, tester, kit_lot FROM rapid_results {tail}",
            params,
        ).fetchall()
        return [_result(row) for row in rows]

    def referrals(self, state: str | None = "open") -> list[LabReferral]:
        """Lab referrals (open ones by default), oldest first."""
        if state:
            return self._referrals_where("WHERE state = ?", [state])
        return self._referrals_where("", [])

    def referral(self, referral_id: int) -> LabReferral:
        found = self._referrals_where("WHERE id = ?", [int(referral_id)])
        if not found:
            raise RapidTestError("unknown_referral", f"没有编号为{referral_id}的送检记录")
        return found[0]

    def _referrals_where(self, where: str, params: list[Any]) -> list[LabReferral]:
        rows = self.store.conn.execute(
            "SELECT id, test_id, sample_id, producer_key, product_code, lab_methods, hold_id, "
            "sample_retained, referred_at, dispute_deadline, state, retained_by, retained_at, "
            "lab, report_number, substance, measured_value, limit_value, value_unit, "
            f"reported_on, outcome, closed_at, closed_by FROM lab_referrals {where} ORDER BY id",
            params,
        ).fetchall()
        return [_referral(row) for row in rows]

    def waiting_samples(self, method_id: str, limit: int = 30) -> list[Sample]:
        """Registered samples ``method_id`` fits that still need a result (staff's run
        list): untested, invalid, suspicious, or a positive not yet resolved either way."""
        method = self.methods.methods[method_id]
        rows = self.store.conn.execute(
            "SELECT sample_id FROM rapid_samples ORDER BY registered_at DESC LIMIT ?", [limit]
        ).fetchall()
        out = []
        for (sample_id,) in rows:
            sample = self.sample(sample_id)
            if self.method_scope(method, sample.product_code) is not None:
                continue
            if self.case_state(sample_id, method_id) in STILL_OPEN:
                out.append(sample)
        return out

    def add_kit_lot(self, text: str, added_by: str = "") -> KitLot:
        """Register a kit lot from its lot file (TOML); the same lot again replaces it."""
        try:
            lot = parse_lot_file(text)
        except KitLotError as error:
            raise RapidTestError("kit_lot", str(error)) from None
        if lot.method_id not in self.methods.methods:
            raise RapidTestError("unknown_method", f"批号文件中的方法{lot.method_id}本站没有")
        method = self.methods.methods[lot.method_id]
        if lot.strip and method.kind != "strip":
            raise RapidTestError("kit_lot", f"{method.id}不是试纸条方法，批号文件不能带[strip]")
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT OR REPLACE INTO kit_lots (lot, method_id, expires_on, maker, "
                "params_json, added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [lot.lot, lot.method_id, lot.expires_on.isoformat(), lot.maker,
                 json.dumps(dict(lot.strip)), self.clock().isoformat(), added_by],
            )  # fmt: skip
        log.info("kit lot %s (%s) registered, expires %s", lot.lot, lot.method_id, lot.expires_on)
        return lot

    def kit_lots(self, method_id: str | None = None) -> list[KitLot]:
        where, params = ("WHERE method_id = ?", [method_id]) if method_id else ("", [])
        rows = self.store.conn.execute(
            "SELECT lot, method_id, expires_on, maker, params_json FROM kit_lots "
            f"{where} ORDER BY expires_on, lot",
            params,
        ).fetchall()
        return [_kit(row) for row in rows]

    def resolve_kit_lot(self, method: Method, code: str | None) -> KitLot | None:
        """The lot a run is done with, from a scan or typed number: unknown or expired
        lots refuse to start; a method whose cut-offs come from the lot needs one."""
        if not (code or "").strip():
            if method.lot_required:
                raise RapidTestError(
                    "kit_lot", f"{method.name}须扫描或输入试剂盒批号（判定值来自批号文件）"
                )
            return None
        try:
            number, scanned_expiry = parse_scan(code or "")
        except KitLotError as error:
            raise RapidTestError("kit_lot", str(error)) from None
        row = self.store.conn.execute(
            "SELECT lot, method_id, expires_on, maker, params_json FROM kit_lots "
            "WHERE lot = ? AND method_id = ?",
            [number, method.id],
        ).fetchone()
        if row is None:
            raise RapidTestError(
                "unknown_lot",
                f"试剂盒批号{number}未在本站登记为“{method.name}”的试剂：请先导入该批号的批号文件",
            )
        lot = _kit(row)
        if scanned_expiry is not None and scanned_expiry < lot.expires_on:
            lot = replace(lot, expires_on=scanned_expiry)  # the kit's own label wins
        today = self.clock().astimezone(CST).date()
        if lot.expired(today):
            raise RapidTestError(
                "expired_lot", f"试剂盒批号{lot.lot}已于{lot.expires_on}过期，不能用于检测"
            )
        return lot

    def method_scope(self, method: Method, product_code: str) -> tuple[str, str] | None:
        """Why ``method`` cannot test this product (zh-CN, English), or None."""
        product = self.catalogue.products[product_code]
        category = self.catalogue.categories.get(product.category)
        return method.scope_refusal(product, category.name if category else product.category)

    def self_test_scope(self, product_code: str) -> tuple[str, str] | None:
        """Why no installed method can give this product 自行检测 evidence (zh-CN,
        English), or None when at least one can."""
        if any(self.method_scope(m, product_code) is None for m in self.methods.methods.values()):
            return None
        product = self.catalogue.products[product_code]
        return (
            f"本站没有适用于{product.name}的快检方法（已安装方法的标准范围都不包括它），"
            "不能凭自行检测合格开证：请选择委托检测或其他承诺依据",
            f"No rapid-test method installed here covers {product.name_en} (outside every "
            "method's standard scope), so a self-test cannot back its certificate: choose a "
            "laboratory test or another basis",
        )

    def verdict_history(self, sample_id: str, method_id: str | None = None) -> list[TestResult]:
        """Every result of a sample (under one method, or all), oldest first: the first
        reading, each re-test and the verdict each was given are all kept."""
        where, params = "WHERE sample_id = ?", [sample_id]
        if method_id:
            where, params = where + " AND method_id = ?", [sample_id, method_id]
        return self.results_where(f"{where} ORDER BY finished_at, test_id", params)

    def methods_of(self, sample_id: str) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT DISTINCT method_id FROM rapid_results WHERE sample_id = ? ORDER BY method_id",
            [sample_id],
        ).fetchall()
        return [r[0] for r in rows]

    def latest_negative(self, sample_id: str, method_id: str) -> datetime | None:
        row = self.store.conn.execute(
            "SELECT max(finished_at) FROM rapid_results WHERE sample_id = ? AND method_id = ? "
            "AND verdict = 'negative' AND status = 'final'",
            [sample_id, method_id],
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def input_name(self, code: str) -> str:
        found = self.catalogue.inputs.get(code)
        return found.name if found else code


def _kit(row: Sequence[Any]) -> KitLot:
    params = json.loads(row[4])
    return KitLot(row[0], row[1], date.fromisoformat(row[2]), row[3],
                  tuple(sorted(params.items())))  # fmt: skip


def _referral(r: Sequence[Any]) -> LabReferral:
    return LabReferral(
        id=r[0], test_id=r[1], sample_id=r[2], producer_key=r[3], product_code=r[4],
        lab_methods=tuple(json.loads(r[5])), hold_id=r[6], sample_retained=bool(r[7]),
        referred_at=r[8], dispute_deadline=r[9], state=r[10], retained_by=r[11],
        retained_at=r[12], lab=r[13], report_number=r[14], substance=r[15],
        measured_value=r[16], limit_value=r[17], value_unit=r[18], reported_on=r[19],
        outcome=r[20], closed_at=r[21], closed_by=r[22],
    )  # fmt: skip


_RESULT_COLUMNS = (
    "test_id", "run_key", "sample_id", "method_id", "analyte", "portion", "channel", "value",
    "unit", "reading", "verdict", "status", "reason", "advice", "retest_of", "started_at",
    "finished_at",
)  # fmt: skip


def _result(row: Sequence[Any]) -> TestResult:
    """A TestResult from a row of ``results_where``'s SELECT (the columns above, then
    detail_json)."""
    values = dict(zip(_RESULT_COLUMNS, row[:17], strict=True))
    return TestResult(**values, detail=json.loads(row[17]), tester=row[18], kit_lot=row[19])


def banned_refusal(catalogue: Catalogue, product_code: str, codes: Sequence[str]) -> str:
    """The plain-words refusal of a declared banned input (as at issuance)."""
    names = "、".join(catalogue.inputs[c].name for c in codes)
    product = catalogue.products[product_code].name
    return (
        f"{names}是国家禁用的药物，用过禁用药的{product}不能开具合格证，"
        "也不能上市销售。本次没有登记样品，已报告乡镇监管站。"
    )
