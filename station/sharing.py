"""Sharing the county's records with other departments and a provincial platform
(抽检信息互通共享): a documented, schema-versioned export (JSON Lines and CSV) of
certificates, rapid tests, official samples, holds and market check-ins since a
watermark, and a push exporter that delivers them to a configured HTTPS endpoint
exactly once, across outages (docs/enforcement.md, "Sharing").

Exactly once, end to end:
1. **Staging** copies each new record into ``share_outbox`` under a stable record id
   (``evt:330100/K001:12``, ``sample:5``, ``hold:H000001:placed``, ``checkin:9``); the
   table is unique on it, so staging twice (overlapping watermarks, two exporters) adds
   nothing.
2. **Pushing** sends pending records in batches; a batch's ``Idempotency-Key`` is fixed
   when it is first tried and the same rows are sent again under the same key until
   the receiver answers 2xx (or 409: it already has that key). Every line also carries its
   record id, so a receiver may deduplicate per record.
3. A 5xx, 408, 429 or a network error is retried with exponential backoff; any other
   4xx, or ``max_attempts`` failures, moves the batch to the dead letter (``state =
   'dead'`` with the reason), visible on the dashboard and retried only by an officer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from station.db import Database
from station.web.store import transaction

log = logging.getLogger(__name__)

SCHEMA = "agriqs.share"
SCHEMA_VERSION = 1
SECTIONS = ("certificates", "tests", "samples", "holds", "checkins")
_EVENT_SECTIONS = {
    "certificate.issued": "certificates",
    "certificate.voided": "certificates",
    "rapidtest.result": "tests",
    "hold.placed": "holds",
    "hold.lifted": "holds",
}
RETRYABLE = {408, 429}


class ShareError(ValueError):
    """A bad endpoint or setting; ``str()`` says which."""


def _line(record_id: str, section: str, kind: str, data: dict[str, Any], at: str) -> str:
    return json.dumps(
        {"schema": SCHEMA, "version": SCHEMA_VERSION, "id": record_id, "section": section,
         "kind": kind, "time": at, "data": data},
        ensure_ascii=False, sort_keys=True,
    )  # fmt: skip


def _position(db: Database, county: str, section: str) -> str:
    rows = db.query(
        "SELECT position FROM share_state WHERE county = ? AND section = ?", [county, section]
    )
    return str(rows[0][0]) if rows else ""


def _set_position(db: Database, county: str, section: str, position: str) -> None:
    db.execute(
        "INSERT INTO share_state (county, section, position) VALUES (?, ?, ?) "
        "ON CONFLICT (county, section) DO UPDATE SET position = excluded.position",
        [county, section, position],
    )


def _stage(db: Database, county: str, rows: list[tuple[str, str, str]], now: datetime) -> int:
    added = 0
    for record_id, section, line in rows:
        cur = db.execute(
            "INSERT INTO share_outbox (county, record_id, section, line, staged_at, "
            "next_attempt) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [county, record_id, section, line, now.isoformat(), now.isoformat()],
        )
        added += cur.rowcount == 1
    return added


def stage(db: Database, county: str, now: datetime, limit: int = 5000) -> int:
    """Copy records newer than the watermarks into the outbox (one transaction)."""
    with transaction(db):
        added = 0
        since = _position(db, county, "events")
        events = db.query(
            "SELECT device, seq, event_id, schema_name, event_time, received_at, body FROM events "
            "WHERE county = ? AND schema_name IN (?, ?, ?, ?, ?) AND received_at >= ? "
            "ORDER BY received_at, device, seq LIMIT ?",
            [county, *_EVENT_SECTIONS, since, limit],
        )
        added += _stage(db, county, [
            (f"evt:{county}/{e[2]}", _EVENT_SECTIONS[e[3]],
             _line(f"evt:{county}/{e[2]}", _EVENT_SECTIONS[e[3]], e[3],
                   {"county": county, "device": e[0], **json.loads(e[6])["data"]}, e[4]))
            for e in events
        ], now)  # fmt: skip
        if events:
            _set_position(db, county, "events", events[-1][5])
        last = int(_position(db, county, "samples") or 0)
        samples = db.query(
            "SELECT id, sample_no, program, producer_name, identifiers, product_code, "
            "product_name, place, sampled_on, lab, report_no, substance, value, limit_value, "
            "unit, verdict, hold_id, entered_at FROM official_samples WHERE county = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            [county, last, limit],
        )
        keys = ["id", "sample_no", "program", "producer_name", "identifiers", "product_code",
                "product_name", "place", "sampled_on", "lab", "report_no", "substance", "value",
                "limit", "unit", "verdict", "hold_id"]  # fmt: skip
        added += _stage(db, county, [
            (f"sample:{s[0]}", "samples",
             _line(f"sample:{s[0]}", "samples", "official_sample",
                   {**dict(zip(keys, s[:17], strict=True)),
                    "identifiers": json.loads(s[4])}, s[17]))
            for s in samples
        ], now)  # fmt: skip
        if samples:
            _set_position(db, county, "samples", str(samples[-1][0]))
        holds = db.query(
            "SELECT hold_id, product_code, reason, source, placed_at, placed_by, lifted_at, "
            "lifted_by, lift_reason FROM county_holds WHERE county = ?",
            [county],
        )
        staged: list[tuple[str, str, str]] = []
        for h in holds:
            data = {"hold_id": h[0], "product_code": h[1], "reason": h[2], "source": h[3],
                    "placed_by": h[5]}  # fmt: skip
            placed = f"hold:{h[0]}:placed"
            staged.append(
                (placed, "holds", _line(placed, "holds", "county_hold.placed", data, h[4]))
            )
            if h[6]:
                lifted = {"hold_id": h[0], "lifted_by": h[7], "reason": h[8]}
                staged.append((f"hold:{h[0]}:lifted", "holds",
                               _line(f"hold:{h[0]}:lifted", "holds", "county_hold.lifted",
                                     lifted, h[6])))  # fmt: skip
        added += _stage(db, county, staged, now)
        last = int(_position(db, county, "checkins") or 0)
        checkins = db.query(
            "SELECT k.id, k.number, m.name, k.status, k.valid, k.mode, k.checked_at FROM "
            "checkins k JOIN markets m ON m.id = k.market_id WHERE k.county = ? AND k.id > ? "
            "ORDER BY k.id LIMIT ?",
            [county, last, limit],
        )
        added += _stage(db, county, [
            (f"checkin:{k[0]}", "checkins",
             _line(f"checkin:{k[0]}", "checkins", "market.checkin",
                   {"number": k[1], "market": k[2], "status": k[3], "valid": bool(k[4]),
                    "mode": k[5]}, k[6]))
            for k in checkins
        ], now)  # fmt: skip
        if checkins:
            _set_position(db, county, "checkins", str(checkins[-1][0]))
    return added


# ---- export files -------------------------------------------------------------------------


def export_lines(db: Database, county: str, section: str | None, after_id: int = 0) -> list[str]:
    """Staged records after an outbox id (the file export's watermark), as JSON Lines."""
    where = "" if section is None else "AND section = ? "
    rows = db.query(
        f"SELECT line FROM share_outbox WHERE county = ? AND id > ? {where}ORDER BY id",
        [county, after_id, *([section] if section else [])],
    )
    return [r[0] for r in rows]


CSV_HEAD = ["schema", "version", "id", "section", "kind", "time", "data"]


def to_csv(lines: list[str]) -> str:
    """One row per record; ``data`` as JSON text (the columns differ by kind)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEAD)
    for text in lines:
        doc = json.loads(text)
        writer.writerow([doc["schema"], doc["version"], doc["id"], doc["section"], doc["kind"],
                         doc["time"], json.dumps(doc["data"], ensure_ascii=False)])  # fmt: skip
    return out.getvalue()


# ---- the push exporter -------------------------------------------------------------------------


@dataclass(frozen=True)
class PushSettings:
    endpoint: str
    token: str | None = None
    batch_size: int = 100
    timeout_s: float = 10.0
    max_attempts: int = 20
    backoff_min_s: float = 1.0
    backoff_max_s: float = 600.0

    def __post_init__(self) -> None:
        url = urlparse(self.endpoint)
        loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            raise ShareError(f"endpoint must be https:// (http only on loopback): {self.endpoint}")


@dataclass
class PushOutcome:
    sent: int = 0
    failed: int = 0
    dead: int = 0


Batch = tuple[str, list[tuple[int, str]]]


def _batch(db: Database, county: str, settings: PushSettings, now: datetime) -> Batch | None:
    """The batch to send now: an unfinished one first (same rows, same key), else a new one."""
    rows = db.query(
        "SELECT batch_key FROM share_outbox WHERE county = ? AND state = 'pending' AND "
        "batch_key IS NOT NULL ORDER BY id LIMIT 1",
        [county],
    )
    if rows:
        key = rows[0][0]
        due = db.query(
            "SELECT id, line, next_attempt FROM share_outbox WHERE county = ? AND batch_key = ? "
            "AND state = 'pending' ORDER BY id",
            [county, key],
        )
        if due and due[0][2] > now.isoformat():
            return None  # backing off
        return key, [(r[0], r[1]) for r in due]
    fresh = db.query(
        "SELECT id, line FROM share_outbox WHERE county = ? AND state = 'pending' AND "
        "batch_key IS NULL ORDER BY id LIMIT ?",
        [county, settings.batch_size],
    )
    if not fresh:
        return None
    ids = ",".join(str(json.loads(r[1])["id"]) for r in fresh)
    key = f"agriqs-{county}-{hashlib.sha256(ids.encode()).hexdigest()[:40]}"
    with transaction(db):
        for row_id, _line_text in fresh:
            db.execute("UPDATE share_outbox SET batch_key = ? WHERE id = ?", [key, row_id])
    return key, [(r[0], r[1]) for r in fresh]


def _post(settings: PushSettings, key: str, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-ndjson; charset=utf-8", "Idempotency-Key": key,
               "X-AgriQS-Schema": f"{SCHEMA}/{SCHEMA_VERSION}"}  # fmt: skip
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    req = urllib.request.Request(settings.endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout_s) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(300).decode("utf-8", "replace")


def push_once(db: Database, county: str, settings: PushSettings, now: datetime) -> PushOutcome:
    """Send at most one batch; record what happened."""
    outcome = PushOutcome()
    found = _batch(db, county, settings, now)
    if found is None:
        return outcome
    key, rows = found
    body = ("\n".join(line for _, line in rows) + "\n").encode("utf-8")
    try:
        status, text = _post(settings, key, body)
        error = f"HTTP {status} {text}".strip() if not 200 <= status < 300 else ""
    except (OSError, urllib.error.URLError) as exc:  # refused, reset, timeout
        status, error = 0, f"network: {exc}"
    ids = [row_id for row_id, _ in rows]
    marks = ", ".join("?" for _ in ids)
    with transaction(db):
        if 200 <= status < 300 or status == 409:
            db.execute(
                f"UPDATE share_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, "
                f"last_error = NULL WHERE id IN ({marks})",
                [now.isoformat(), *ids],
            )
            outcome.sent = len(ids)
            return outcome
        attempts = int(db.query("SELECT max(attempts) FROM share_outbox WHERE id IN "
                                f"({marks})", ids)[0][0] or 0) + 1  # fmt: skip
        retry = status == 0 or status >= 500 or status in RETRYABLE
        if retry and attempts < settings.max_attempts:
            wait = min(settings.backoff_max_s, settings.backoff_min_s * 2 ** (attempts - 1))
            db.execute(
                f"UPDATE share_outbox SET attempts = ?, last_error = ?, next_attempt = ? "
                f"WHERE id IN ({marks})",
                [attempts, error[:300], (now + timedelta(seconds=wait)).isoformat(), *ids],
            )
            outcome.failed = len(ids)
        else:
            db.execute(
                f"UPDATE share_outbox SET state = 'dead', attempts = ?, last_error = ? "
                f"WHERE id IN ({marks})",
                [attempts, error[:300], *ids],
            )
            outcome.dead = len(ids)
            log.error("share batch %s dead-lettered: %s", key, error)
    return outcome


def requeue_dead(db: Database, county: str, now: datetime) -> int:
    """An officer's retry of the dead letter (after the receiver was fixed)."""
    with transaction(db):
        cur = db.execute(
            "UPDATE share_outbox SET state = 'pending', attempts = 0, next_attempt = ? "
            "WHERE county = ? AND state = 'dead'",
            [now.isoformat(), county],
        )
    return int(cur.rowcount)


def status(db: Database, county: str) -> dict[str, int]:
    rows = db.query(
        "SELECT state, count(*) FROM share_outbox WHERE county = ? GROUP BY state", [county]
    )
    return {str(r[0]): int(r[1]) for r in rows}


class Exporter:
    """``station share run``: stage and push until stopped."""

    def __init__(
        self, db_url: str, county: str, settings: PushSettings,
        clock: Callable[[], datetime], interval_s: float = 5.0,
    ) -> None:  # fmt: skip
        self.db_url, self.county, self.settings = db_url, county, settings
        self.clock, self.interval_s = clock, interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        with Database(self.db_url) as db:
            while not self._stop.is_set():
                try:
                    stage(db, self.county, self.clock())
                    while push_once(db, self.county, self.settings, self.clock()).sent:
                        pass
                except Exception:
                    log.exception("share round failed; retrying")
                self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
