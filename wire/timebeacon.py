"""The county's time beacon: a signed statement of the county's clock, published retained.

A kiosk without a real-time clock boots at whatever time it saved (or 1970) and the date
on a certificate is a legal fact, so the county publishes its time every ``interval_s``
on ``{prefix}/{county}/time`` (``wire.topics.time_topic``), signed with the county key
(``wire/documents.py``). A kiosk checks the signature and the county, and keeps only a
beacon newer than the newest it has seen: a replayed old beacon is refused and cannot
move the kiosk's time floor (kiosk/infra/timetrust.py). Nothing is trusted because it
arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wire.documents import SignatureError, open_document, sign_document
from wire.signing import SigningKey

DOCUMENT_TYPE = "agriqs.time-beacon"


class TimeBeaconError(ValueError):
    """Not a usable beacon: bad signature, malformed, or another county's."""


@dataclass(frozen=True)
class TimeBeacon:
    county: str
    #: The county's clock when it signed (with its UTC offset).
    issued_at: datetime
    #: How often the county publishes; a kiosk allows this much staleness.
    interval_s: int

    def to_body(self) -> dict[str, Any]:
        return {
            "type": DOCUMENT_TYPE,
            "county": self.county,
            "issued_at": self.issued_at.isoformat(),
            "interval_s": self.interval_s,
        }

    def sign(self, county_key: SigningKey) -> dict[str, str]:
        return sign_document(self.to_body(), county_key)


def parse_time_beacon(document: Any, anchors: list[bytes], county: str) -> TimeBeacon:
    """Check the county's signature, the type and the county; read the beacon."""
    try:
        body = open_document(document, anchors)
    except SignatureError as error:
        raise TimeBeaconError(f"time beacon rejected: {error}") from None
    if body.get("type") != DOCUMENT_TYPE:
        raise TimeBeaconError(f"not a time beacon (type {body.get('type')!r})")
    if body.get("county") != county:
        raise TimeBeaconError(f"time beacon for county {body.get('county')!r}, not {county!r}")
    issued = body.get("issued_at")
    interval = body.get("interval_s")
    if not isinstance(issued, str):
        raise TimeBeaconError(f"issued_at: expected text, got {issued!r}")
    try:
        issued_at = datetime.fromisoformat(issued)
    except ValueError:
        raise TimeBeaconError(f"issued_at: not an ISO time: {issued!r}") from None
    if issued_at.tzinfo is None:
        raise TimeBeaconError("issued_at: a time without a UTC offset")
    if not isinstance(interval, int) or isinstance(interval, bool) or not 1 <= interval <= 3600:
        raise TimeBeaconError(f"interval_s: 1..3600, not {interval!r}")
    return TimeBeacon(county, issued_at, interval)
