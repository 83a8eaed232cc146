"""Lab referrals that close: the tester confirms the retained sample, the lab's result is
recorded (at the kiosk's CLI; the county's page may record it too), and the referral
closes as *confirmed* (the hold stays: the county's trace starts from it) or *cleared*
(the hold is lifted and audited; staff tell the producer on the next visit).

The result is judged against the limit it was reported with: a measured value above the
limit confirms; at or below clears. A banned substance's limit is 0 (不得检出), so any
detection confirms. Open referrals older than the due time raise ``referral_overdue``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from kiosk.domain.validation import check_text
from kiosk.services.rapidtest_records import LabReferral, RapidTestError

if TYPE_CHECKING:
    from kiosk.services.rapidtest import RapidTestService

log = logging.getLogger(__name__)

OVERDUE_ALARM = "referral_overdue"
#: A referral without a lab result after this long raises an alarm.
DEFAULT_REFERRAL_DUE = timedelta(days=7)
CONFIRMED, CLEARED = "confirmed", "cleared"


def _open(service: RapidTestService, referral_id: int) -> LabReferral:
    found = service.referral(referral_id)
    if found.state != "open":
        raise RapidTestError("referral_closed", f"送检{referral_id}已结案（{found.outcome}）")
    return found


def confirm_retained(service: RapidTestService, referral_id: int, by: str) -> LabReferral:
    """The tester says the retained portion is sealed and kept (it is no longer assumed)."""
    _open(service, referral_id)
    name = check_text(by or "", "by", "留样确认人", 1, 32)
    with service.store.transaction():
        service.store.conn.execute(
            "UPDATE lab_referrals SET sample_retained = 1, retained_by = ?, retained_at = ? "
            "WHERE id = ?",
            [name, service.clock().isoformat(), referral_id],
        )
        service.holds.audit.append("referral.retained", {"referral": referral_id, "by": name})
    return service.referral(referral_id)


def _decimal(text: str, field: str, words: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise RapidTestError(field, f"{words}须为数字：{text}") from None
    if not value.is_finite() or value < 0:
        raise RapidTestError(field, f"{words}须为不小于0的数字")
    return value


def record_lab_result(
    service: RapidTestService,
    referral_id: int,
    *,
    lab: str,
    report_number: str,
    substance: str,
    value: str,
    limit: str,
    unit: str,
    reported_on: date,
    by: str,
) -> LabReferral:
    """Close the referral with the lab's result; cleared lifts the hold (audited)."""
    referral = _open(service, referral_id)
    if not referral.sample_retained:
        raise RapidTestError(
            "not_retained", f"送检{referral_id}的留样尚未确认：请检测员先确认留样，再录入实验室结果"
        )
    lab = check_text(lab or "", "lab", "检测机构", 2, 40)
    report = check_text(report_number or "", "report_number", "报告编号", 2, 40)
    substance = check_text(substance or "", "substance", "检测项目", 1, 40)
    unit = check_text(unit or "", "unit", "单位", 1, 16)
    who = check_text(by or "", "by", "录入人", 1, 40)
    measured = _decimal(value, "value", "检测值")
    mrl = _decimal(limit, "limit", "限量")
    if reported_on > service.clock().date():
        raise RapidTestError("reported_on", "报告日期不能晚于今天")
    outcome = CONFIRMED if measured > mrl else CLEARED
    now = service.clock().isoformat()
    with service.store.transaction():
        service.store.conn.execute(
            "UPDATE lab_referrals SET state = 'closed', lab = ?, report_number = ?, "
            "substance = ?, measured_value = ?, limit_value = ?, value_unit = ?, "
            "reported_on = ?, outcome = ?, closed_at = ?, closed_by = ? WHERE id = ?",
            [lab, report, substance, str(measured), str(mrl), unit, reported_on.isoformat(),
             outcome, now, who, referral_id],
        )  # fmt: skip
        service.holds.audit.append(
            "referral.closed",
            {"referral": referral_id, "outcome": outcome, "lab": lab, "report": report,
             "substance": substance, "value": str(measured), "limit": str(mrl),
             "unit": unit, "by": who},
        )  # fmt: skip
        if outcome == CLEARED and referral.hold_id is not None:
            service.holds.lift(referral.hold_id, f"lab:{report} ({who})")
        service.alarms.clear(OVERDUE_ALARM, subject=f"referral:{referral_id}")
    log.warning("referral %d closed %s by %s (%s %s %s > %s?)", referral_id, outcome, lab,
                substance, measured, unit, mrl)  # fmt: skip
    return service.referral(referral_id)


def raise_overdue(service: RapidTestService, due: timedelta = DEFAULT_REFERRAL_DUE) -> list[int]:
    """Raise ``referral_overdue`` for each open referral older than ``due``; the ids."""
    now = service.clock()
    late = []
    for referral in service.referrals("open"):
        age = now - datetime.fromisoformat(referral.referred_at)
        if age <= due:
            continue
        late.append(referral.id)
        service.alarms.raise_(
            OVERDUE_ALARM,
            "warning",
            f"送检{referral.id}（样品{referral.sample_id}）已{age.days}天没有实验室结果",
            {"referral": referral.id, "sample_id": referral.sample_id,
             "test_id": referral.test_id, "days": age.days},
            subject=f"referral:{referral.id}",
        )  # fmt: skip
    return late
