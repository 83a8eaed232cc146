"""The certificate evidence rule for 自行检测合格: which rapid-test results may back a
certificate (the issuance service asks; the touch UI offers what passes).

The ``test_ref`` must be a negative, final result of this kiosk for the same producer
and product, not older than the configured age, on a sample with no open positive, and
the sample's negative results together must cover every input class the request says
was used (用什么药、检什么药). Testing is per production batch (按照生产批次, the
Order): the sample names its batch, the certificates resting on it may not exceed the
batch's quantity in total, nor be issued after the window (the same day by default,
24 h at most) from sampling (docs/certificates.md §3).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from kiosk.domain.model import Basis, CertificateRequest, format_quantity
from kiosk.domain.rapidtest_cases import CONFIRMED, FINAL, RETEST_REQUIRED, UNRESOLVED
from kiosk.domain.rapidtest_verdict import NEGATIVE, SUSPICIOUS
from kiosk.services.producers import producer_keys
from kiosk.services.rapidtest_records import VERDICT_ZH, RapidTestRecords, Sample
from wire.clock import CST


def evidence(
    records: RapidTestRecords, request: CertificateRequest
) -> str | tuple[str, str] | None:
    """IssuanceService's check of a 自行检测合格 basis; a refusal in plain words (or
    zh-CN and English), or None."""
    if request.basis is not Basis.SELF_TEST:
        return None  # 委托检测: a lab report number, not ours to check
    if request.product_code in records.catalogue.products:
        out_of_scope = records.self_test_scope(request.product_code)
        if out_of_scope:
            return out_of_scope
    ref = (request.test_ref or "").strip()
    found = records.results_where("WHERE test_id = ?", [ref])
    if not found:
        return f"本机没有检测编号为{ref}的快检记录：自行检测合格须以本站的快检结果为依据"
    result = found[0]
    sample = records.sample(result.sample_id)
    same_producer = sample.producer_key in producer_keys(records.store, request.issuer.producer_key)
    if not same_producer or sample.product_code != request.product_code:
        return f"检测编号{ref}不是该生产者该产品的检测，不能作为依据"
    if result.verdict != NEGATIVE or result.status != FINAL:
        return f"检测编号{ref}的结果为{VERDICT_ZH[result.verdict]}，不能作为合格依据"
    method = records.methods.methods.get(result.method_id)
    scope = records.method_scope(method, sample.product_code) if method else None
    if method is None or scope is not None:
        why = scope or (f"方法{result.method_id}已不在本站", f"method {result.method_id} is gone")
        return (f"检测编号{ref}不能作为合格依据：{why[0]}",
                f"Test {ref} cannot back a certificate: {why[1]}")  # fmt: skip
    now = records.clock()
    refusal = batch_refusal(records, sample, request, now)
    if refusal:
        return refusal
    max_age = records.settings.evidence_max_age
    if now - datetime.fromisoformat(result.finished_at) > max_age:
        return f"检测编号{ref}已超过{max_age.days}天，请重新检测后再开证"
    negative: set[str] = set()
    for method_id in records.methods_of(sample.sample_id):
        state = records.case_state(sample.sample_id, method_id)
        if state in (RETEST_REQUIRED, UNRESOLVED, CONFIRMED, SUSPICIOUS):
            return f"样品{sample.sample_id}另有可疑或阳性结果，不能作为合格依据"
        latest = records.latest_negative(sample.sample_id, method_id)
        installed = records.methods.methods.get(method_id)
        fits = (
            installed is not None and records.method_scope(installed, sample.product_code) is None
        )
        if state == NEGATIVE and latest and now - latest <= max_age and installed and fits:
            negative.add(method_id)
    covered = covered_classes(records, negative, sample.product_code)
    missing = [code for code in request.inputs_used if code not in covered]
    if missing:
        names = "、".join(records.input_name(c) for c in missing)
        have = "、".join(records.input_name(c) for c in sorted(covered)) or "无"
        return (
            f"检测编号{ref}只覆盖{have}，不覆盖本批使用的{names}（用什么药、检什么药）："
            "请加做相应项目的检测，或选择其他承诺依据"
        )
    return None


def covered_classes(records: RapidTestRecords, negative: set[str], product_code: str) -> set[str]:
    """Input classes ruled out by these negative methods; a panel's class (one analyte per
    strip) only when every panel method that covers it and fits the product is negative."""
    covered: set[str] = set()
    installed = records.methods.methods
    for method_id in negative:
        method = installed[method_id]
        for code in method.covers:
            if method.panel:
                peers = [
                    m.id for m in installed.values()
                    if m.panel == method.panel and code in m.covers
                    and records.method_scope(m, product_code) is None
                ]  # fmt: skip
                if not set(peers) <= negative:
                    continue
            covered.add(code)
    return covered


def batch_refusal(
    records: RapidTestRecords, sample: Sample, request: CertificateRequest, now: datetime
) -> str | None:
    """The batch rule: a sample with its batch, within the window, quantity left."""
    sid = sample.sample_id
    if sample.batch_quantity is None or sample.sampled_at is None:
        return (
            f"样品{sid}没有登记生产批次（批次数量、抽样地点和时间）：自行检测须按生产批次，"
            "请重新抽样登记后检测"
        )
    sampled = datetime.fromisoformat(sample.sampled_at)
    hours = records.settings.evidence_window_h
    if hours:
        if now - sampled > timedelta(hours=hours):
            return f"样品{sid}抽样已超过{hours}小时，该批次不能再开具自行检测合格证，请重新抽样检测"
    elif now.astimezone(CST).date() != sampled.astimezone(CST).date():
        return f"样品{sid}不是今天抽样的：自行检测合格证只能在抽样当天开具，请重新抽样检测"
    if request.unit != sample.batch_unit:
        return f"样品{sid}的批次以{sample.batch_unit}登记，请按{sample.batch_unit}填写数量"
    used = sum(
        (Decimal(q) for (q,) in records.store.conn.execute(
            "SELECT quantity FROM certificates WHERE sample_id = ? AND status != 'voided'",
            [sid],
        )),
        Decimal(0),
    )  # fmt: skip
    left = sample.batch_quantity - used
    if request.quantity > left:
        return (
            f"样品{sid}代表的批次共{format_quantity(sample.batch_quantity)}{sample.batch_unit}，"
            f"已开具{format_quantity(used)}{sample.batch_unit}，最多还能开"
            f"{format_quantity(max(left, Decimal(0)))}{sample.batch_unit}"
        )
    return None


def sample_of(records: RapidTestRecords, test_ref: str) -> str | None:
    """The sample a rapid test was run on (the certificate names it)."""
    found = records.results_where("WHERE test_id = ?", [test_ref])
    return found[0].sample_id if found else None


def passing_test(records: RapidTestRecords, request: CertificateRequest) -> str | None:
    """A recent negative test of this producer and product that would back ``request``
    as 自行检测合格 (the touch UI offers it as the basis); None when there is none."""
    keys = sorted(producer_keys(records.store, request.issuer.producer_key))
    marks = ", ".join("?" for _ in keys)
    rows = records.store.conn.execute(
        f"SELECT sample_id FROM rapid_samples WHERE producer_key IN ({marks}) "
        "AND product_code = ? ORDER BY registered_at DESC LIMIT 5",
        [*keys, request.product_code],
    ).fetchall()
    for (sample_id,) in rows:
        for result in records.results(sample_id):
            if result.verdict != NEGATIVE or result.status != FINAL:
                continue
            candidate = replace(request, basis=Basis.SELF_TEST, test_ref=result.test_id)
            if evidence(records, candidate) is None:
                return result.test_id
    return None
