"""County-wide holds on this kiosk: the county's signed hold list, applied and enforced.

The agent's provisioning listener receives the list (``wire/holds.py``), checks the
county's signature and county, and calls ``CountyHolds.apply``; a list whose version
is not above the one applied is refused, so a replayed or delayed document never
brings a lifted hold back or drops a new one. Issuance asks ``CountyHolds.matching``
with every identifier it knows for the 承诺主体: the card or ledger id, the phone, and
what the local producer registry links to them (主体码, ID number).

A lifted hold that started as this kiosk's own (a confirmed positive here) also lifts
the local hold, as the officer decided at the county.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiosk.domain.model import Basis, CertificateRequest, Issuer
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from kiosk.services.holds import HoldRegistry
from wire.holds import ALL_PRODUCTS, HoldList, identifier, producer_key_identifiers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppliedHold:
    hold_id: str
    product_code: str
    reason: str
    source: str
    placed_at: str
    contact: str


def issuer_identifiers(store: Store, issuer: Issuer) -> set[str]:
    """Every identifier of the 承诺主体 this kiosk can name (``wire.holds.identifier``):
    its key and phone, and for a registered producer (one identity, whatever was scanned
    or typed) its id, 主体码, ID number and every phone bound to it."""
    found = set(producer_key_identifiers(issuer.producer_key))
    if issuer.phone:
        found.add(identifier("phone", issuer.phone))
    if issuer.producer_id:
        found.add(identifier("producer_id", issuer.producer_id))
    rows = store.conn.execute(
        "SELECT p.producer_id, p.platform_code, p.id_number FROM producers p "
        "WHERE p.producer_id = ? OR p.phone = ? OR p.producer_id IN "
        "(SELECT producer_id FROM producer_phones WHERE phone = ?)",
        [issuer.producer_id or "", issuer.phone or "", issuer.phone or ""],
    ).fetchall()
    for producer_id, platform_code, id_number in rows:
        found.add(identifier("producer_id", producer_id))
        if platform_code:
            found.add(identifier("platform_code", platform_code))
        if id_number:
            found.add(identifier("id_number", id_number))
        for (phone,) in store.conn.execute(
            "SELECT phone FROM producer_phones WHERE producer_id = ?", [producer_id]
        ):
            found.add(identifier("phone", phone))
    return found


class CountyHolds:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Callable[[], datetime],
        device_id: str,
        local: HoldRegistry | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock
        self.device_id = device_id
        self.local = local

    def version(self) -> int:
        row = self.store.conn.execute("SELECT version FROM county_hold_list").fetchone()
        return int(row[0]) if row else 0

    def apply(self, hold_list: HoldList) -> bool:
        """Replace the applied list with a newer one; False (and audited) when not newer."""
        with self.store.transaction():
            current = self.version()
            if hold_list.version <= current:
                self.audit.append(
                    "county_holds.refused",
                    {"version": hold_list.version, "reason": f"not newer than {current}"},
                )
                return False
            conn = self.store.conn
            conn.execute("DELETE FROM county_hold_identifiers")
            conn.execute("DELETE FROM county_holds")
            conn.execute("DELETE FROM county_notices")
            conn.executemany(
                "INSERT OR IGNORE INTO county_notices (number, title, text, issued_at) "
                "VALUES (?, ?, ?, ?)",
                [(n.number, n.title, n.text, n.issued_at) for n in hold_list.notices
                 if self.device_id in n.devices],
            )  # fmt: skip
            conn.execute("DELETE FROM county_grade_identifiers")
            conn.execute("DELETE FROM county_grades")
            for g in hold_list.grades:
                cursor = conn.execute(
                    "INSERT INTO county_grades (grade, reason, contact, test_days) "
                    "VALUES (?, ?, ?, ?)",
                    [g.grade, g.reason, g.contact, g.test_days],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO county_grade_identifiers (grade_id, identifier) "
                    "VALUES (?, ?)",
                    [(cursor.lastrowid, i) for i in g.identifiers],
                )
            for h in hold_list.holds:
                conn.execute(
                    "INSERT INTO county_holds (hold_id, product_code, reason, source, "
                    "placed_at, contact) VALUES (?, ?, ?, ?, ?, ?)",
                    [h.hold_id, h.product_code, h.reason, h.source, h.placed_at, h.contact],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO county_hold_identifiers (hold_id, identifier) "
                    "VALUES (?, ?)",
                    [(h.hold_id, i) for i in h.identifiers],
                )
            conn.execute(
                "INSERT INTO county_hold_list (id, version, issued_at, applied_at) "
                "VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
                "issued_at = excluded.issued_at, applied_at = excluded.applied_at",
                [hold_list.version, hold_list.issued_at.isoformat(), self.clock().isoformat()],
            )
            lifted_here = []
            if self.local is not None:
                for lifted in hold_list.lifted:
                    origin = lifted.origin
                    mine = origin is not None and origin.device == self.device_id
                    by = f"county:{lifted.lifted_by}"
                    if mine and origin is not None and self.local.lift(origin.hold_id, by):
                        lifted_here.append(origin.hold_id)
            self.audit.append(
                "county_holds.applied",
                {
                    "version": hold_list.version,
                    "holds": [h.hold_id for h in hold_list.holds],
                    "grades": len(hold_list.grades),
                    "local_lifted": lifted_here,
                },
            )
        log.info("county hold list %d applied: %d open", hold_list.version, len(hold_list.holds))
        return True

    def matching(self, issuer: Issuer, product_code: str) -> AppliedHold | None:
        return county_hold_for(self.store, issuer, product_code)

    def open_holds(self) -> list[AppliedHold]:
        return open_county_holds(self.store)


def open_county_holds(store: Store) -> list[AppliedHold]:
    """The county-wide holds applied here (the staff's holds screen lists them)."""
    rows = store.conn.execute(
        "SELECT hold_id, product_code, reason, source, placed_at, contact FROM county_holds "
        "ORDER BY placed_at"
    ).fetchall()
    return [AppliedHold(*r) for r in rows]


@dataclass(frozen=True)
class CountyNotice:
    number: str
    title: str
    text: str
    issued_at: str


def county_notices(store: Store) -> list[CountyNotice]:
    """The county's notices (通报) addressed to this kiosk, newest first."""
    rows = store.conn.execute(
        "SELECT number, title, text, issued_at FROM county_notices ORDER BY issued_at DESC"
    ).fetchall()
    return [CountyNotice(*r) for r in rows]


def county_hold_for(store: Store, issuer: Issuer, product_code: str) -> AppliedHold | None:
    """The county hold that covers this 承诺主体 (by any identifier) and product, if any."""
    ids = sorted(issuer_identifiers(store, issuer))
    marks = ", ".join("?" for _ in ids)
    row = store.conn.execute(
        "SELECT h.hold_id, h.product_code, h.reason, h.source, h.placed_at, h.contact "
        "FROM county_holds h JOIN county_hold_identifiers i ON i.hold_id = h.hold_id "
        f"WHERE i.identifier IN ({marks}) AND h.product_code IN (?, ?) "
        "ORDER BY h.placed_at LIMIT 1",
        [*ids, product_code, ALL_PRODUCTS],
    ).fetchone()
    return AppliedHold(*row) if row else None


# ---- grades: what bases a producer may use here ------------------------------------------

#: Worst first: the grade that applies when identifiers match several.
_SEVERITY = {"untrusted": 3, "red": 2, "yellow": 1}


@dataclass(frozen=True)
class AppliedGrade:
    grade: str
    reason: str
    contact: str
    test_days: int


def county_grade_for(store: Store, issuer: Issuer) -> AppliedGrade | None:
    """The worst county grade naming this 承诺主体 by any identifier (None: green)."""
    ids = sorted(issuer_identifiers(store, issuer))
    marks = ", ".join("?" for _ in ids)
    rows = store.conn.execute(
        "SELECT g.grade, g.reason, g.contact, g.test_days FROM county_grades g "
        "JOIN county_grade_identifiers i ON i.grade_id = g.id "
        f"WHERE i.identifier IN ({marks})",
        ids,
    ).fetchall()
    if not rows:
        return None
    return AppliedGrade(*max(rows, key=lambda r: _SEVERITY.get(r[0], 0)))


def _recent_negative(store: Store, producer_key: str, since: datetime) -> bool:
    row = store.conn.execute(
        "SELECT 1 FROM rapid_results r JOIN rapid_samples s ON s.sample_id = r.sample_id "
        "WHERE s.producer_key = ? AND r.verdict = 'negative' AND r.status = 'final' "
        "AND r.finished_at >= ? LIMIT 1",
        [producer_key, since.isoformat()],
    ).fetchone()
    return row is not None


def offered_bases(store: Store, issuer: Issuer, now: datetime) -> set[Basis]:
    """The bases the touch screen offers this 承诺主体 under the county's grade."""
    grade = county_grade_for(store, issuer)
    if grade is None:
        return set(Basis)
    if grade.grade == "untrusted":
        return set()
    if grade.grade == "red":
        return {Basis.SELF_TEST, Basis.COMMISSIONED_TEST}
    since = now - timedelta(days=grade.test_days)
    if _recent_negative(store, issuer.producer_key, since):
        return set(Basis)
    return {Basis.SELF_TEST, Basis.COMMISSIONED_TEST}


def grade_refusal(
    store: Store, request: CertificateRequest, now: datetime, *, basis_chosen: bool = True
) -> tuple[str, str] | None:
    """Why the county's grade refuses this request (zh-CN, English); None if it allows it
    (before a basis is chosen only 失信 refuses)."""
    grade = county_grade_for(store, request.issuer)
    if grade is None:
        return None
    contact = grade.contact or "县农业农村局"
    if grade.grade == "untrusted":
        return (f"该主体已被列入失信名单（{grade.reason}），暂不能开证。请联系{contact}。",
                f"This producer is on the county's untrusted list ({grade.reason}); no "
                f"certificate can be issued. Please contact {contact}.")  # fmt: skip
    if not basis_chosen:
        return None
    if request.basis not in offered_bases(store, request.issuer, now):
        if grade.grade == "red":
            return (f"该主体风险等级为红色（{grade.reason}），只能凭当天自行检测或委托检测"
                    f"合格开证。请联系{contact}。",
                    f"This producer is graded red ({grade.reason}): only a passing test of "
                    f"today or a laboratory report can back a certificate. Please contact "
                    f"{contact}.")  # fmt: skip
        return (f"该主体风险等级为黄色（{grade.reason}），凭质量安全控制符合要求开证须"
                f"{grade.test_days}天内有本站快检合格记录，请先检测。",
                f"This producer is graded yellow ({grade.reason}): 'quality controls met' "
                f"needs a passing test here within {grade.test_days} days. Please test "
                "first.")  # fmt: skip
    if grade.grade == "red" and request.basis is Basis.SELF_TEST:
        row = store.conn.execute(
            "SELECT finished_at FROM rapid_results WHERE test_id = ?", [request.test_ref or ""]
        ).fetchone()
        if row is None or datetime.fromisoformat(row[0]).date() != now.date():
            return (f"该主体风险等级为红色（{grade.reason}），自行检测须为当天的检测。",
                    f"This producer is graded red ({grade.reason}): the test must be "
                    "today's.")  # fmt: skip
    return None
