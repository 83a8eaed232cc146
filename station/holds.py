"""County-wide holds: decided at the county, published signed and retained, enforced by
every kiosk of the county (docs/enforcement.md).

A hold comes from a confirmed positive at any kiosk (the kiosk's ``hold.placed`` event,
adopted here), a failed official sample, or an officer on the dashboard. It names the
producer by every identifier the county knows (``producer_identifiers``) and opens a
trace: the producer's certificates of that product in the window before it
(``trace_certificates``; the scan page says 该批次已被追溯), and the 样式二 re-issues
citing them, including those that arrive after the hold (``trace_reissues``, each
publisher round; the scan page also follows a certificate's sources itself). Lifting is an officer's
action, audited in the transaction that records it.

``HoldPublisher`` is the one process that holds the county key for holds: every
``interval_s`` it adopts new kiosk holds, builds the list and, when what it says
changed, signs a new version and publishes it retained on ``wire.topics.holds_topic``.
The web service never signs: it writes the decision, the publisher sends it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from station import grading
from station.db import Database
from station.devices import bump_version
from station.grading import GradingRules
from station.rounds import RoundPublisher
from station.web.store import transaction
from wire.holds import (
    ALL_PRODUCTS,
    SOURCES,
    CountyHold,
    Grade,
    HoldList,
    LiftedHold,
    Notice,
    Origin,
    identifier,
    producer_key_identifiers,
)
from wire.mqtt import BrokerSettings, publish_and_wait
from wire.signing import SigningKey
from wire.topics import holds_topic

log = logging.getLogger(__name__)

#: Lifted holds stay in the list this long, so a kiosk offline for weeks still lifts
#: the local hold it placed itself.
LIFTED_KEEP_DAYS = 60
#: A trace covers the producer's certificates of the product issued this long before
#: the hold (the Order's 7-day certificate validity is the default; configurable).
TRACE_WINDOW_DAYS = 7
#: 样式二 re-issues of traced certificates are followed this many steps.
CHAIN_DEPTH = 5
#: Identifiers of an open hold are widened (new certificates name new phones) this often.
REFRESH_S = 30.0


class HoldError(ValueError):
    """An officer's hold or lift cannot be recorded; ``str()`` says why in plain words."""


@dataclass(frozen=True)
class HoldRow:
    hold_id: str
    product_code: str
    reason: str
    source: str
    placed_at: str
    placed_by: str
    contact: str
    origin_device: str | None
    origin_hold_id: int | None
    lifted_at: str | None
    lifted_by: str | None
    lift_reason: str | None
    identifiers: tuple[str, ...] = ()
    traced: int = 0


# ---- identity ----------------------------------------------------------------------


def _split(identifiers: Iterable[str]) -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    phones: set[str] = set()
    for text in identifiers:
        kind, _, value = text.partition(":")
        if kind == "producer_id":
            keys.add(value)
        elif kind == "phone":
            phones.add(value)
            keys.add(f"tel:{value}")
    return keys, phones


def _in(column: str, values: Iterable[str]) -> tuple[str, list[str]]:
    items = sorted(values)
    if not items:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in items)})", items


def producer_identifiers(db: Database, county: str, identifiers: Iterable[str]) -> set[str]:
    """The identifiers given, widened by what the county's records link to them.

    Certificates tie a producer key to the phone it printed, and a phone to the other
    keys that printed it (two steps, not a closure: a shared phone must not chain the
    whole village together). The ledger's links (same person) are added as found."""
    found = set(identifiers)
    for _ in range(2):
        keys, phones = _split(found)
        by_key, key_params = _in("producer_key", keys)
        by_phone, phone_params = _in("issuer_phone", phones)
        rows = db.query(
            f"SELECT DISTINCT producer_key, issuer_phone FROM certificates "
            f"WHERE county = ? AND ({by_key} OR {by_phone})",
            [county, *key_params, *phone_params],
        )
        for key, phone in rows:
            found |= producer_key_identifiers(key)
            if phone:
                found.add(identifier("phone", phone))
    found |= _ledger_identifiers(db, county, found)
    return found


def _ledger_identifiers(db: Database, county: str, found: set[str]) -> set[str]:
    """Identifiers the producer ledger links to any of ``found`` (the same producer)."""
    marks, params = _in("i.identifier", found)
    rows = db.query(
        "SELECT DISTINCT j.identifier FROM producer_identifiers i JOIN producer_identifiers j "
        "ON j.county = i.county AND j.producer_id = i.producer_id "
        f"WHERE i.county = ? AND {marks}",
        [county, *params],
    )
    return {r[0] for r in rows}


# ---- decisions ----------------------------------------------------------------------


def place_hold(
    db: Database,
    county: str,
    *,
    identifiers: Iterable[str],
    product_code: str,
    reason: str,
    source: str,
    placed_by: str,
    now: datetime,
    contact: str = "",
    origin: Origin | None = None,
    sample_id: int | None = None,
    trace_days: int = TRACE_WINDOW_DAYS,
    trace_from: datetime | None = None,
) -> str:
    """Record a hold and its trace, inside the caller's transaction; returns the hold id."""
    if source not in SOURCES:
        raise HoldError(f"unknown hold source {source!r}")
    reason = reason.strip()
    product_code = product_code.strip() or ALL_PRODUCTS
    if not reason:
        raise HoldError("请填写暂停原因")
    ids = producer_identifiers(db, county, identifiers)
    if not ids:
        raise HoldError("请至少填写一个主体标识（主体编号、手机号、主体码或身份证号）")
    hold_id = f"H{bump_version(db, county, 'hold'):06d}"
    db.execute(
        "INSERT INTO county_holds (county, hold_id, product_code, reason, source, placed_at, "
        "placed_by, contact, origin_device, origin_hold_id, sample_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [county, hold_id, product_code, reason[:200], source, now.isoformat(), placed_by,
         contact[:100], origin.device if origin else None, origin.hold_id if origin else None,
         sample_id],
    )  # fmt: skip
    _add_identifiers(db, county, hold_id, ids)
    first = trace_from or now - timedelta(days=trace_days)
    trace(db, county, hold_id, ids, product_code, first, now)
    return hold_id


def _add_identifiers(db: Database, county: str, hold_id: str, ids: Iterable[str]) -> None:
    for text in sorted(ids):
        db.execute(
            "INSERT INTO county_hold_identifiers (county, hold_id, identifier) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [county, hold_id, text],
        )


def trace(
    db: Database,
    county: str,
    hold_id: str,
    ids: Iterable[str],
    product_code: str,
    first: datetime,
    last: datetime,
) -> int:
    """Mark the producer's certificates of the product issued in [first, last] as traced."""
    keys, phones = _split(ids)
    by_key, key_params = _in("producer_key", keys)
    by_phone, phone_params = _in("issuer_phone", phones)
    product = "" if product_code == ALL_PRODUCTS else "AND product_code = ? "
    rows = db.query(
        f"SELECT number FROM certificates WHERE county = ? AND ({by_key} OR {by_phone}) "
        f"{product}AND day >= ? AND day <= ?",
        [county, *key_params, *phone_params,
         *([product_code] if product else []), first.date().isoformat(),
         last.date().isoformat()],
    )  # fmt: skip
    numbers = {r[0] for r in rows}
    frontier = set(numbers)
    for _ in range(CHAIN_DEPTH):  # 样式二 re-issues of traced certificates are traced too
        marks, params = _in("source_number", frontier)
        frontier = {
            r[0]
            for r in db.query(
                f"SELECT number FROM certificate_sources WHERE county = ? AND {marks}",
                [county, *params],
            )
        } - numbers
        numbers |= frontier
    for number in sorted(numbers):
        db.execute(
            "INSERT INTO trace_certificates (county, hold_id, number) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [county, hold_id, number],
        )
    return len(numbers)


def trace_reissues(db: Database, county: str) -> int:
    """Trace 样式二 certificates stored after their source was traced: a buyer re-labelling
    a held producer's batch after the hold is followed too (open holds only, up to
    ``CHAIN_DEPTH`` re-issues). Inside the caller's transaction; returns rows added."""
    added = 0
    for _ in range(CHAIN_DEPTH):
        cursor = db.execute(
            "INSERT INTO trace_certificates (county, hold_id, number) "
            "SELECT DISTINCT t.county, t.hold_id, s.number FROM trace_certificates t "
            "JOIN certificate_sources s ON s.county = t.county AND s.source_number = t.number "
            "JOIN county_holds c ON c.county = t.county AND c.hold_id = t.hold_id "
            "WHERE t.county = ? AND c.lifted_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
            "trace_certificates u WHERE u.county = t.county AND u.hold_id = t.hold_id "
            "AND u.number = s.number) "
            "ON CONFLICT DO NOTHING",
            [county],
        )
        count = max(cursor.rowcount or 0, 0)
        if not count:
            break
        added += count
    return added


def lift_hold(
    db: Database, county: str, hold_id: str, lifted_by: str, reason: str, now: datetime
) -> bool:
    """An officer lifts a hold (inside the caller's transaction; audit it there too)."""
    reason = reason.strip()
    if not reason:
        raise HoldError("请填写解除原因")
    cur = db.execute(
        "UPDATE county_holds SET lifted_at = ?, lifted_by = ?, lift_reason = ? "
        "WHERE county = ? AND hold_id = ? AND lifted_at IS NULL",
        [now.isoformat(), lifted_by, reason[:200], county, hold_id],
    )
    return bool(cur.rowcount)


def adopt_kiosk_holds(db: Database, county: str, now: datetime) -> list[str]:
    """Every kiosk hold (a confirmed positive) not yet a county hold becomes one."""
    rows = db.query(
        "SELECT h.device, h.hold_id, h.producer_key, h.product_code, h.reason, h.placed_at "
        "FROM holds h WHERE h.county = ? AND NOT EXISTS (SELECT 1 FROM county_holds c "
        "WHERE c.county = h.county AND c.origin_device = h.device "
        "AND c.origin_hold_id = h.hold_id) AND NOT EXISTS (SELECT 1 FROM hold_lifts l "
        "WHERE l.county = h.county AND l.device = h.device AND l.hold_id = h.hold_id) "
        "ORDER BY h.placed_at",
        [county],
    )
    made = []
    for device, kiosk_hold, producer_key, product_code, reason, _placed in rows:
        with transaction(db):
            made.append(
                place_hold(
                    db,
                    county,
                    identifiers=producer_key_identifiers(producer_key),
                    product_code=product_code,
                    reason=reason,
                    source="kiosk_positive",
                    placed_by=f"kiosk:{device}",
                    now=now,
                    origin=Origin(device, int(kiosk_hold)),
                )
            )
    return made


def refresh_identifiers(db: Database, county: str) -> None:
    """Open holds learn identifiers that arrived since (a certificate naming a phone)."""
    for hold in open_holds(db, county):
        ids = producer_identifiers(db, county, hold.identifiers)
        new = ids - set(hold.identifiers)
        if new:
            with transaction(db):
                _add_identifiers(db, county, hold.hold_id, new)


# ---- reading ----------------------------------------------------------------------------

_COLUMNS = (
    "hold_id, product_code, reason, source, placed_at, placed_by, contact, origin_device, "
    "origin_hold_id, lifted_at, lifted_by, lift_reason"
)


def _identifiers_of(db: Database, county: str, hold_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {h: [] for h in hold_ids}
    if not hold_ids:
        return out
    marks, params = _in("hold_id", hold_ids)
    for hold_id, text in db.query(
        f"SELECT hold_id, identifier FROM county_hold_identifiers WHERE county = ? AND {marks} "
        "ORDER BY identifier",
        [county, *params],
    ):
        out[hold_id].append(text)
    return out


def _rows(db: Database, county: str, where: str, params: list) -> list[HoldRow]:
    rows = db.query(
        f"SELECT {_COLUMNS}, (SELECT count(*) FROM trace_certificates t WHERE "
        "t.county = c.county AND t.hold_id = c.hold_id) "
        f"FROM county_holds c WHERE county = ? AND {where} ORDER BY placed_at, hold_id",
        [county, *params],
    )
    ids = _identifiers_of(db, county, [r[0] for r in rows])
    return [
        HoldRow(
            hold_id=r[0],
            product_code=r[1],
            reason=r[2],
            source=r[3],
            placed_at=r[4],
            placed_by=r[5],
            contact=r[6],
            origin_device=r[7],
            origin_hold_id=None if r[8] is None else int(r[8]),
            lifted_at=r[9],
            lifted_by=r[10],
            lift_reason=r[11],
            identifiers=tuple(ids[r[0]]),
            traced=int(r[12]),
        )
        for r in rows
    ]


def open_holds(db: Database, county: str) -> list[HoldRow]:
    return _rows(db, county, "lifted_at IS NULL", [])


def recently_lifted(db: Database, county: str, since: datetime) -> list[HoldRow]:
    return _rows(db, county, "lifted_at IS NOT NULL AND lifted_at >= ?", [since.isoformat()])


def get_hold(db: Database, county: str, hold_id: str) -> HoldRow | None:
    found = _rows(db, county, "hold_id = ?", [hold_id])
    return found[0] if found else None


def build_list(
    db: Database, county: str, now: datetime, version: int = 0, grades: tuple[Grade, ...] = ()
) -> HoldList:
    """The hold list as it stands (``version`` 0: not yet numbered), with ``grades``."""

    def origin(row: HoldRow) -> Origin | None:
        if row.origin_device is None or row.origin_hold_id is None:
            return None
        return Origin(row.origin_device, row.origin_hold_id)

    holds = tuple(
        CountyHold(
            h.hold_id,
            h.identifiers,
            h.product_code,
            h.reason,
            h.source,
            h.placed_at,
            h.contact,
            origin(h),
        )
        for h in open_holds(db, county)
        if h.identifiers
    )
    lifted = tuple(
        LiftedHold(h.hold_id, h.lifted_at or "", h.lifted_by or "", origin(h))
        for h in recently_lifted(db, county, now - timedelta(days=LIFTED_KEEP_DAYS))
    )
    notices = recent_notices(db, county, now - timedelta(days=NOTICE_KEEP_DAYS))
    return HoldList(county, version, now, holds, lifted, grades, notices)


#: Notices travel to the kiosks concerned in the hold list this long after they are issued.
NOTICE_KEEP_DAYS = 30
NOTICE_TITLE = "农产品质量安全问题产品追溯通报"


def recent_notices(db: Database, county: str, since: datetime) -> tuple[Notice, ...]:
    """Notices issued since ``since``, each for the kiosks that printed what it lists."""
    out = []
    for number, created_at, text in db.query(
        "SELECT notice_no, created_at, body FROM notices WHERE county = ? AND created_at >= ? "
        "ORDER BY notice_no",
        [county, since.isoformat()],
    ):
        body = json.loads(text)
        certs = body.get("certificates", [])
        devices = tuple(sorted({c["device"] for c in certs if c.get("device")}))
        if not devices:
            continue
        numbers = "、".join(c["number"] for c in certs[:5]) + ("等" if len(certs) > 5 else "")
        summary = (f"〔{number[:4]}〕第{number[5:]}号：{body['hold']['reason']}。涉及合格证"
                   f"{len(certs)}张（{numbers}）。该主体该产品已全县暂停开证，请核对本点开具"
                   "记录，协助追溯。")  # fmt: skip
        out.append(Notice(number, NOTICE_TITLE, summary, devices, created_at))
    return tuple(out)


def digest(hold_list: HoldList) -> str:
    text = json.dumps(hold_list.content(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def last_publication(db: Database, county: str) -> tuple[int, str] | None:
    rows = db.query(
        "SELECT version, digest FROM hold_publications WHERE county = ? "
        "ORDER BY version DESC LIMIT 1",
        [county],
    )
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def traced_numbers(db: Database, county: str, number: str) -> list[tuple[str, str, str]]:
    """(hold id, reason, placed_at) of the traces a certificate is under."""
    return [
        (r[0], r[1], r[2])
        for r in db.query(
            "SELECT c.hold_id, c.reason, c.placed_at FROM trace_certificates t JOIN "
            "county_holds c ON c.county = t.county AND c.hold_id = t.hold_id "
            "WHERE t.county = ? AND t.number = ?",
            [county, number],
        )
    ]


# ---- the publisher --------------------------------------------------------------------------


class HoldPublisher(RoundPublisher):
    """Adopt, build, sign and publish; ``sync_once`` is one round (tests call it directly)."""

    name = "hold-publisher"

    def __init__(
        self,
        db_url: str,
        county: str,
        key: SigningKey,
        broker: BrokerSettings,
        clock: Callable[[], datetime],
        *,
        interval_s: float = 0.5,
        rules: GradingRules | None = None,
        grade_interval_s: float = 10.0,
    ) -> None:
        super().__init__(broker, interval_s)
        self.db_url = db_url
        self.county = county
        self.key = key
        self.clock = clock
        self.published: list[tuple[int, float]] = []  # (version, monotonic time) for tests
        self._db: Database | None = None
        self._refreshed = 0.0
        self.rules = rules or GradingRules()
        self.grade_interval_s = grade_interval_s
        self._graded = float("-inf")
        self._grades: tuple[Grade, ...] = ()

    def _database(self) -> Database:
        if self._db is None:
            self._db = Database(self.db_url)
        return self._db

    def sync_once(self) -> int | None:
        """One round; the version published, or None when nothing changed."""
        db = self._database()
        now = self.clock()
        made = adopt_kiosk_holds(db, self.county, now)
        if made:
            log.info("kiosk holds adopted as county holds: %s", ", ".join(made))
        if time.monotonic() - self._refreshed > REFRESH_S:
            refresh_identifiers(db, self.county)
            self._refreshed = time.monotonic()
        with transaction(db):
            followed = trace_reissues(db, self.county)
        if followed:
            log.info("%d re-issued certificates of traced batches traced", followed)
        if time.monotonic() - self._graded >= self.grade_interval_s:
            rows = grading.compute(db, self.county, self.rules, now)
            self._grades = grading.pushed(rows, self.rules)
            self._graded = time.monotonic()
        current = build_list(db, self.county, now, grades=self._grades)
        wanted = digest(current)
        last = last_publication(db, self.county)
        if last is not None and last[1] == wanted:
            return None
        with transaction(db):
            # Unix seconds as a floor: kiosks refuse a list that is not newer than the one
            # they hold, so after the county store is restored from an older backup a
            # plain counter would go backwards and silence every later hold.
            version = bump_version(db, self.county, "holds", at_least=int(now.timestamp()))
        hold_list = HoldList(
            self.county, version, now, current.holds, current.lifted, current.grades,
            current.notices,
        )  # fmt: skip
        payload = json.dumps(hold_list.sign(self.key), ensure_ascii=False).encode("utf-8")
        publish_and_wait(
            self._mqtt(), holds_topic(self.broker.prefix, self.county), payload, retain=True
        )
        with transaction(db):
            db.execute(
                "INSERT INTO hold_publications (county, version, digest, issued_at, open_holds) "
                "VALUES (?, ?, ?, ?, ?)",
                [self.county, version, wanted, now.isoformat(), len(hold_list.holds)],
            )
        self.published.append((version, time.monotonic()))
        log.info("hold list %d published: %d open holds", version, len(hold_list.holds))
        return version

    def round(self) -> int | None:
        return self.sync_once()

    def _drop_resources(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
