"""The county's device registry: enrollment codes, requests, kiosks, keys, fleet view.

Tables are created here (beside station/db.py's event tables, in the same database)
so that provisioning can grow without touching the collector's schema. ``device_state``
(written by the collector from the retained births) gives last seen, versions and
backlog; open alarms come from the stored ``alarm.*`` events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from station.db import Database
from wire.provisioning import code_hash, code_qr_text, new_enroll_code
from wire.signing import key_id

#: A code nobody used within this long is dead (the technician asks for a new one).
DEFAULT_CODE_TTL = timedelta(hours=1)
#: Device ids handed out automatically: K001, K002, ... (kiosk config allows 2-8 chars).
DEVICE_ID_FORMAT = "K{:03d}"


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class EnrollCode:
    code: str
    qr_text: str
    county: str
    township: str
    expires_at: datetime


def make_code(
    db: Database,
    county: str,
    township: str,
    service_point: str,
    *,
    device_id: str | None = None,
    ttl: timedelta = DEFAULT_CODE_TTL,
    auto_approve: bool = True,
    now: datetime | None = None,
) -> EnrollCode:
    """A one-time code; only its hash is stored."""
    now = now or now_utc()
    code = new_enroll_code()
    expires = now + ttl
    db.execute(
        "INSERT INTO enroll_codes (code_hash, county, township, service_point, device_id, "
        "auto_approve, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            code_hash(code),
            county,
            township,
            service_point,
            device_id,
            int(auto_approve),
            now.isoformat(),
            expires.isoformat(),
        ],
    )
    return EnrollCode(code, code_qr_text(county, code), county, township, expires)


def next_device_id(db: Database, county: str) -> str:
    taken = {r[0] for r in db.query("SELECT device_id FROM devices WHERE county = ?", [county])}
    n = 1
    while DEVICE_ID_FORMAT.format(n) in taken:
        n += 1
    return DEVICE_ID_FORMAT.format(n)


def current_version(db: Database, county: str, kind: str) -> int:
    """The last value ``bump_version`` gave (0 when none)."""
    rows = db.query(
        "SELECT version FROM county_versions WHERE county = ? AND kind = ?", [county, kind]
    )
    return int(rows[0][0]) if rows else 0


def bump_version(db: Database, county: str, kind: str, at_least: int = 0) -> int:
    """Next value of a per-county monotonic counter (config bundles, trust lists), and
    at least ``at_least`` (a time-based floor: a restored older store still counts up
    past what kiosks already accepted)."""
    rows = db.query(
        "SELECT version FROM county_versions WHERE county = ? AND kind = ?", [county, kind]
    )
    version = max((rows[0][0] if rows else 0) + 1, at_least)
    db.execute(
        "INSERT INTO county_versions (county, kind, version) VALUES (?, ?, ?) "
        "ON CONFLICT (county, kind) DO UPDATE SET version = excluded.version",
        [county, kind, version],
    )
    return version


def register_device(
    db: Database,
    county: str,
    device_id: str,
    township: str,
    service_point: str,
    public_key_b64: str,
    now: datetime,
) -> None:
    import base64

    db.execute(
        "INSERT INTO devices (county, device_id, township, service_point, enrolled_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (county, device_id) DO UPDATE SET "
        "township = excluded.township, service_point = excluded.service_point",
        [county, device_id, township, service_point, now.isoformat()],
    )
    add_key(db, county, device_id, base64.b64decode(public_key_b64), now)


def add_key(db: Database, county: str, device_id: str, public_key: bytes, now: datetime) -> None:
    import base64

    db.execute(
        "INSERT INTO device_keys (county, device_id, public_key, key_id, valid_from) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            county,
            device_id,
            base64.b64encode(public_key).decode(),
            key_id(public_key),
            now.isoformat(),
        ],
    )


def devices_in(db: Database, county: str, township: str | None = None) -> list[str]:
    sql, params = "SELECT device_id FROM devices WHERE county = ?", [county]
    if township:
        sql += " AND township = ?"
        params.append(township)
    return [r[0] for r in db.query(sql + " ORDER BY device_id", params)]


def _open_alarms(db: Database, county: str, device: str) -> list[str]:
    rows = db.query(
        "SELECT schema_name, body FROM events WHERE county = ? AND device = ? "
        "AND schema_name IN ('alarm.raised', 'alarm.cleared') ORDER BY seq",
        [county, device],
    )
    open_codes: dict[str, bool] = {}
    for schema, body in rows:
        code = json.loads(body).get("data", {}).get("code")
        if code:
            open_codes[code] = schema == "alarm.raised"
    return sorted(c for c, is_open in open_codes.items() if is_open)


def fleet(db: Database, county: str | None = None) -> list[dict[str, Any]]:
    """One row per registered device (and any device seen without being registered)."""
    rows = db.query(
        "SELECT d.county, d.device_id, d.township, d.service_point, d.enrolled_at, "
        "s.status, s.software_version, s.config_version, s.backlog, s.state_time "
        "FROM devices d LEFT JOIN device_state s ON s.county = d.county AND s.device = d.device_id "
        "UNION SELECT s.county, s.device, NULL, NULL, NULL, s.status, s.software_version, "
        "s.config_version, s.backlog, s.state_time FROM device_state s WHERE NOT EXISTS "
        "(SELECT 1 FROM devices d WHERE d.county = s.county AND d.device_id = s.device) "
        "ORDER BY 1, 2"
    )
    out = []
    for r in rows:
        if county and r[0] != county:
            continue
        out.append(
            {
                "county": r[0],
                "device_id": r[1],
                "township": r[2],
                "service_point": r[3],
                "enrolled_at": r[4],
                "status": r[5] or "never seen",
                "software_version": r[6],
                "config_version": r[7],
                "backlog": r[8],
                "last_seen": r[9],
                "open_alarms": _open_alarms(db, r[0], r[1]),
            }
        )
    return out


def show(db: Database, county: str, device: str) -> dict[str, Any] | None:
    rows = [d for d in fleet(db, county) if d["device_id"] == device]
    if not rows:
        return None
    info = rows[0]
    info["keys"] = [
        {"key_id": r[0], "valid_from": r[1], "revoked_at": r[2]}
        for r in db.query(
            "SELECT key_id, valid_from, revoked_at FROM device_keys WHERE county = ? "
            "AND device_id = ? ORDER BY valid_from",
            [county, device],
        )
    ]
    certificate, event = highest_used(db, county, device)
    info["restore_floors"] = {
        "certificate": certificate,
        "event": event,
        "kiosk_backup_restore": f"--county-floors {county}/{device}:{certificate}:{event}",
    }
    info["recent_commands"] = [
        {"id": r[0], "name": r[1], "sent_at": r[2], "status": r[3]}
        for r in db.query(
            "SELECT id, name, sent_at, status FROM command_log WHERE county = ? AND device_id = ? "
            "ORDER BY sent_at DESC LIMIT 10",
            [county, device],
        )
    ]
    return info


def highest_used(db: Database, county: str, device: str) -> tuple[int, int]:
    """The highest certificate sequence and event seq the county holds from a kiosk:
    what a database restored onto a new card must continue above (its floors file,
    which knew, died with the old card)."""
    seq = db.query("SELECT max(seq) FROM events WHERE county = ? AND device = ?", [county, device])
    certificate = max(
        _highest_certificate(db, county, device), _highest_in_conflicts(db, county, device)
    )
    return certificate, int(seq[0][0] or 0)


def _highest_in_conflicts(db: Database, county: str, device: str) -> int:
    """The largest certificate number in this kiosk's quarantined conflicts: a second
    body under a known event id (a restore that reused ids) is a certificate printed
    and handed out, in no table but the quarantine. Searched as text, since a kept
    payload may be cut short (``QUARANTINE_KEEP_BYTES``)."""
    pattern = re.compile(r'"number"\s*:\s*"' + re.escape(f"{county}-{device}-") + r'([0-9]+)"')
    rows = db.query(
        "SELECT payload FROM quarantine WHERE topic = ? AND reason LIKE ?",
        [f"{county}/{device}", "conflict:%"],
    )
    found = [
        int(match)
        for (payload,) in rows
        for match in pattern.findall(bytes(payload).decode("utf-8", "replace"))
    ]
    return max(found, default=0)


#: Rows read per page while skipping numbers whose suffix is not a number.
_PAGE = 100


def _highest_certificate(db: Database, county: str, device: str) -> int:
    """The largest numeric suffix of a kiosk's certificate numbers. The county checks
    only their ``county-device-`` prefix, so a suffix may be anything: it is compared
    without leading zeros (shorter first, then as text, equal on both stores for
    digits) and a non-numeric one is skipped, not fatal to ``station devices show``."""
    start = len(f"{county}-{device}-") + 1  # our own integer, not input: inlined
    key = f"ltrim(substr(number, {start}), '0')"
    offset = 0
    while True:
        rows = db.query(
            f"SELECT {key} FROM certificates WHERE county = ? AND device = ? "
            f"ORDER BY length({key}) DESC, {key} DESC LIMIT {_PAGE} OFFSET {offset}",
            [county, device],
        )
        for (suffix,) in rows:
            text = str(suffix or "0")
            if text.isascii() and text.isdigit():
                return int(text)
        if len(rows) < _PAGE:
            return 0
        offset += _PAGE


def pending_requests(db: Database) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT id, county, client_id, hostname, received_at FROM enroll_requests "
        "WHERE status = 'pending' ORDER BY received_at"
    )
    return [
        dict(zip(("id", "county", "client_id", "hostname", "received_at"), r, strict=True))
        for r in rows
    ]


def decide(db: Database, request_id: str, approve: bool, reason: str = "") -> bool:
    """A technician's decision on a pending request; the enrollment service answers it."""
    cur = db.execute(
        "UPDATE enroll_requests SET status = ?, reason = ? WHERE id = ? AND status = 'pending'",
        [
            "approved" if approve else "refused",
            reason or ("" if approve else "refused by the county"),
            request_id,
        ],
    )
    return cur.rowcount == 1
