"""The county trust list: every enrolled kiosk's signing keys, signed by the county key.

Published retained on ``{prefix}/{county}/trust`` with a version from the per-county
counter, so kiosks (which refuse a version not above theirs) and offline verifiers
always converge on the newest list.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

from station.db import Database
from station.devices import bump_version, current_version, now_utc
from wire.mqtt import BrokerSettings, close, connect, publish_and_wait
from wire.signing import SigningKey
from wire.topics import trust_topic
from wire.trust import TrustedKey, TrustList

#: A published list expires after this many days unless ``--valid-days`` says otherwise:
#: a verifier that has not heard from the county for that long says so rather than
#: trusting revoked keys forever. ``station trust publish`` runs daily
#: (docs/deploy/station/agriqs-station-trust.timer), far inside it.
DEFAULT_VALID_DAYS = 30


def load_county_key(path: Path) -> SigningKey:
    """The county signing key (0600 PEM); ``station trust new-key`` makes one."""
    return SigningKey.load(path)


def build(
    db: Database,
    county: str,
    now: datetime | None = None,
    valid_days: float = DEFAULT_VALID_DAYS,
    *,
    spend: bool = True,
) -> TrustList:
    """A new version of the county's list from the registry (bumps the version); it
    expires ``valid_days`` after ``now``. ``spend=False`` (``station trust show``)
    signs under the last version spent instead: a kiosk already holding that version
    ignores it, and the next publish is still newer."""
    if not 0 < valid_days <= 366:
        raise ValueError(f"a trust list is valid 0 < days <= 366, not {valid_days}")
    now = now or now_utc()
    rows = db.query(
        "SELECT device_id, public_key, valid_from, revoked_at FROM device_keys "
        "WHERE county = ? ORDER BY device_id, valid_from",
        [county],
    )
    keys = tuple(
        TrustedKey(
            county,
            r[0],
            base64.b64decode(r[1]),
            datetime.fromisoformat(r[2]),
            None,
            datetime.fromisoformat(r[3]) if r[3] else None,
        )
        for r in rows
    )
    expires = now + timedelta(days=valid_days)
    version = bump_version(db, county, "trust") if spend else current_version(db, county, "trust")
    return TrustList(county, version, now, expires, keys)


def signed_document(
    db: Database,
    county: str,
    key: SigningKey,
    valid_days: float = DEFAULT_VALID_DAYS,
    *,
    spend: bool = True,
) -> dict[str, str]:
    return build(db, county, valid_days=valid_days, spend=spend).sign(key)


def publish_trust(
    db: Database,
    county: str,
    key: SigningKey,
    broker: BrokerSettings,
    valid_days: float = DEFAULT_VALID_DAYS,
) -> int:
    """Sign and publish (retained) a fresh list; returns its version. The broker is
    reached first: a county whose broker is down does not spend a version."""
    client = connect(broker)
    try:
        document = signed_document(db, county, key, valid_days)
        publish_and_wait(
            client, trust_topic(broker.prefix, county), json.dumps(document).encode(), retain=True
        )
    finally:
        close(client)
    return json.loads(document["body"])["version"]
