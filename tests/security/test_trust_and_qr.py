"""Issue 11 item 6: trust lists expire, vouch only for their own county, and the QR
text is canonical.

Before: station lists carried ``expires_at: None`` (a verifier cut off from the county
trusted revoked keys forever); county 999999's list vouched for a forged 330100
certificate; a QR whose last character differed only in base32 padding bits, or with
``=`` padding, still verified as the same certificate."""

from __future__ import annotations

import base64
import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta

import pytest
from support.certificates import URL, fields, signed_qr

from station.cli import main as station
from wire.clock import CST
from wire.qr import build_qr_text, encode_body, signed_message
from wire.signing import SigningKey
from wire.trust import TrustedKey, TrustList, TrustListError, parse_trust_list
from wire.verify import Reason, verify_qr_text

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def test_station_trust_lists_expire_by_default(tmp_path):
    county_key, kiosk_key = SigningKey.generate(), SigningKey.generate()
    key_path = tmp_path / "county.pem"
    county_key.save(key_path)
    db = str(tmp_path / "station.db")
    assert station(["devices", "register", "330100/K001", "--db", db, "--township", "示范镇",
                    "--public-key", kiosk_key.public_b64]) == 0  # fmt: skip
    out = io.StringIO()
    with redirect_stdout(out):
        assert station(["trust", "show", "--db", db, "--key", str(key_path),
                        "--county", "330100"]) == 0  # fmt: skip
    trust = parse_trust_list(json.loads(out.getvalue()), [county_key.public_bytes])
    now = datetime.now(UTC)
    assert trust.expires_at is not None
    assert timedelta(days=29) < trust.expires_at - now <= timedelta(days=30)
    text = signed_qr(kiosk_key, fields(issued_at=now.astimezone(CST) + timedelta(minutes=1)))
    assert verify_qr_text(text, trust, now + timedelta(minutes=2)).valid
    late = verify_qr_text(text, trust, now + timedelta(days=31))
    assert late.reason is Reason.TRUST_LIST_EXPIRED


def _list(county: str, key: SigningKey, entry_county: str) -> TrustList:
    now = datetime.now(UTC)
    entry = TrustedKey(entry_county, "K001", key.public_bytes, now - timedelta(days=1))
    return TrustList(county, 7, now, now + timedelta(days=30), (entry,))


def test_another_countys_list_cannot_vouch_for_330100():
    county_999999, county_330100 = SigningKey.generate(), SigningKey.generate()
    forger = SigningKey.generate()
    anchors = [county_999999.public_bytes, county_330100.public_bytes]
    forged_list = _list("999999", forger, "330100").sign(county_999999)
    with pytest.raises(TrustListError, match="names keys of county 330100"):
        parse_trust_list(forged_list, anchors)
    # A list built in memory (or read before this check) still vouches for nothing
    # outside its county.
    now = datetime.now(UTC)
    forged = signed_qr(forger, fields(issued_at=now.astimezone(CST)))
    verdict = verify_qr_text(forged, _list("999999", forger, "330100"), now)
    assert verdict.reason is Reason.UNKNOWN_KIOSK
    honest = _list("330100", forger, "330100")  # the same key, listed by its own county
    assert verify_qr_text(forged, honest, now).valid


def _valid_text() -> tuple[str, TrustList]:
    key = SigningKey.generate()
    now = datetime.now(UTC)
    for extra in range(5):  # a payload whose bit length leaves padding bits in the last char
        f = fields(issued_at=now.astimezone(CST), test_ref="RT-" + "7" * (4 + extra))
        body = encode_body(f)
        if (len(body) + 64) % 5:
            text = build_qr_text(URL, body, key.sign(signed_message(URL, body)))
            return text, _list("330100", key, "330100")
    raise AssertionError("no payload length with padding bits")


def test_qr_with_a_changed_last_character_of_the_same_bytes_is_refused():
    text, trust = _valid_text()
    assert verify_qr_text(text, trust, datetime.now(UTC)).valid
    token = text[len(URL) :]
    raw = base64.b32decode(token + "=" * (-len(token) % 8))
    twins = []
    for char in BASE32:  # other last characters that decode to the very same bytes
        other = token[:-1] + char
        if other != token and base64.b32decode(other + "=" * (-len(other) % 8)) == raw:
            twins.append(URL + other)
    assert twins, "the payload leaves unused bits in its last character"
    for twin in twins:
        verdict = verify_qr_text(twin, trust, datetime.now(UTC))
        assert verdict.reason is Reason.MALFORMED, twin


def test_qr_with_base32_padding_is_refused():
    text, trust = _valid_text()
    token = text[len(URL) :]
    padded = token + "=" * (-len(token) % 8)
    assert padded != token
    verdict = verify_qr_text(URL + padded, trust, datetime.now(UTC))
    assert verdict.reason is Reason.MALFORMED
