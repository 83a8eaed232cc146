"""The county's kiosk keys as a trust list for the scan page, cached and refreshed.

The registry (``device_keys``) is the source the signed trust list is built from
(``station/trustlist.py``); the page reads it directly, since it *is* the county,
and re-reads it every ``refresh_s`` so a newly enrolled or revoked kiosk shows within
seconds. Each key is parsed once per key set (``SodiumVerifier``), and signature
verdicts are cached per QR text for the life of one key set: a label is scanned again
and again (the buyer, the market inspector, the consumer), and Ed25519 verification is
the costliest step of the page. A changed key set (enrolled, revoked) drops both.
Only the signature is cached: a void or a hold is read from the store on every scan.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from station.db import Database
from wire.signing import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from wire.trust import TrustedKey, TrustList
from wire.verify import Verdict, verify_qr_text

log = logging.getLogger(__name__)

#: Verdicts remembered (about 1 KiB each).
VERDICT_CACHE_SIZE = 20_000


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def registry_trust_list(db: Database, county: str, now: datetime) -> TrustList:
    """Every key the registry holds for ``county`` (revoked ones too: they still name
    the kiosk, so a revoked key's certificate says 签名无效, not 未知开证点)."""
    rows = db.query(
        "SELECT device_id, public_key, valid_from, revoked_at FROM device_keys "
        "WHERE county = ? ORDER BY device_id, valid_from",
        [county],
    )
    keys = tuple(
        TrustedKey(county, r[0], base64.b64decode(r[1]), _valid_from(r[2]), None, _time(r[3]))
        for r in rows
    )
    return TrustList(county, 0, now, None, keys)


class SodiumVerifier:
    """Ed25519 verification by libsodium (PyNaCl) with each kiosk's key parsed once:
    about 2.7x faster than the OpenSSL path on the county server (bench figures in
    docs/station.md); the same check, as wire.signing.verify_signature."""

    def __init__(self) -> None:
        self._keys: dict[bytes, VerifyKey] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def __call__(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
            return False
        key = self._keys.get(public_key)
        if key is None:
            with self._lock:
                key = self._keys.setdefault(public_key, VerifyKey(public_key))
        try:
            key.verify(message, signature)
        except BadSignatureError:
            return False
        return True


def _valid_from(text: str) -> datetime:
    parsed = _time(text)
    if parsed is None:
        raise ValueError("a kiosk key without valid_from")
    return parsed


class TrustCache:
    """Thread-safe: ``verdict(text, now)`` from any worker thread."""

    def __init__(
        self,
        load: Callable[[], TrustList],
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._trust: TrustList | None = None
        self._loaded_at = 0.0
        self._verdicts: OrderedDict[str, Verdict] = OrderedDict()
        self._check = SodiumVerifier()

    def trust(self) -> TrustList:
        with self._lock:
            stale = self._trust is None or self._clock() - self._loaded_at >= self._refresh_s
        if stale:
            fresh = self._load()
            with self._lock:
                if self._trust is None or fresh.keys != self._trust.keys:
                    self._verdicts.clear()
                    self._check = SodiumVerifier()  # parsed keys of this key set only
                    if self._trust is not None:
                        log.info("kiosk keys changed: %d keys", len(fresh.keys))
                self._trust = fresh
                self._loaded_at = self._clock()
        assert self._trust is not None
        return self._trust

    @property
    def parsed_keys(self) -> int:
        """Kiosk keys parsed for verification in the current key set."""
        return len(self._check)

    def __len__(self) -> int:
        """Signature verdicts cached."""
        return len(self._verdicts)

    def verdict(self, text: str, now: datetime) -> Verdict:
        """The signature verdict (never a record's status: voids and holds are read per
        scan), from the cache when this key set already judged ``text``."""
        trust = self.trust()
        with self._lock:
            cached = self._verdicts.get(text)
            if cached is not None:
                self._verdicts.move_to_end(text)
                return cached
            check = self._check
        result = verify_qr_text(text, trust, now, check_signature=check)
        with self._lock:
            if self._trust is trust:
                self._verdicts[text] = result
                if len(self._verdicts) > VERDICT_CACHE_SIZE:
                    self._verdicts.popitem(last=False)
        return result
