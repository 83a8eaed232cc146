"""The county's trust list: which kiosk keys may sign certificates, and until when.

Signed by the county key; verifiers (market inspectors, other kiosks, the
county page) check certificates offline against it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from wire.documents import SignatureError, open_document, sign_document
from wire.signing import SigningKey, decode_public_key

DOCUMENT_TYPE = "agriqs.trust-list"


class TrustListError(ValueError):
    """The trust list cannot be used: bad signature, malformed, or wrong county."""


@dataclass(frozen=True)
class TrustedKey:
    county: str
    device_id: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class TrustList:
    county: str
    version: int
    issued_at: datetime
    expires_at: datetime | None
    keys: tuple[TrustedKey, ...] = field(default=())

    def find(self, county: str, device_id: str) -> list[TrustedKey]:
        """Keys of that kiosk, if it is of this list's county: a county's list vouches for
        its own kiosks only, whatever keys it carries."""
        if county != self.county:
            return []
        return [k for k in self.keys if k.county == county and k.device_id == device_id]

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now > self.expires_at

    def to_body(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "type": DOCUMENT_TYPE,
            "county": self.county,
            "version": self.version,
            "issued_at": iso(self.issued_at),
            "expires_at": iso(self.expires_at),
            "keys": [
                {
                    "county": k.county,
                    "device_id": k.device_id,
                    "public_key": _b64(k.public_key),
                    "valid_from": iso(k.valid_from),
                    "valid_until": iso(k.valid_until),
                    "revoked_at": iso(k.revoked_at),
                }
                for k in self.keys
            ],
        }

    def sign(self, county_key: SigningKey) -> dict[str, str]:
        return sign_document(self.to_body(), county_key)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _optional_time(value: Any, name: str) -> datetime | None:
    return None if value is None else _time(value, name)


def _time(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TrustListError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise TrustListError(f"{name}: time without a UTC offset: {value!r}")
    return parsed


def parse_trust_list(document: Any, anchors: list[bytes]) -> TrustList:
    """Check the county's signature and read the list; TrustListError says what is wrong."""
    try:
        body = open_document(document, anchors)
    except SignatureError as error:
        raise TrustListError(f"trust list rejected: {error}") from None
    if body.get("type") != DOCUMENT_TYPE:
        raise TrustListError(f"not a trust list (type {body.get('type')!r})")
    try:
        keys = tuple(
            TrustedKey(
                county=str(k["county"]),
                device_id=str(k["device_id"]),
                public_key=decode_public_key(k["public_key"]),
                valid_from=_time(k["valid_from"], "valid_from"),
                valid_until=_optional_time(k.get("valid_until"), "valid_until"),
                revoked_at=_optional_time(k.get("revoked_at"), "revoked_at"),
            )
            for k in body["keys"]
        )
        trust = TrustList(
            county=str(body["county"]),
            version=int(body["version"]),
            issued_at=_time(body["issued_at"], "issued_at"),
            expires_at=_optional_time(body.get("expires_at"), "expires_at"),
            keys=keys,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TrustListError(f"trust list malformed: {error}") from None
    foreign = sorted({k.county for k in trust.keys} - {trust.county})
    if foreign:
        # County 999999's key signed a list naming a 330100 kiosk: refused whole.
        raise TrustListError(
            f"trust list of county {trust.county} names keys of county {', '.join(foreign)}"
        )
    return trust


def load_trust_list(path: Path, anchors: list[bytes]) -> TrustList:
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise TrustListError(f"trust list file not found: {path}") from None
    except json.JSONDecodeError as error:
        raise TrustListError(f"{path}: not JSON: {error}") from None
    return parse_trust_list(document, anchors)
