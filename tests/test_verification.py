"""Signed QR payloads and the trust list: every changed byte fails."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.certificates import NOW, URL, fields, signed_qr

from kiosk.domain.validation import MAX_ISSUER_CHARS, MAX_ORIGIN_CHARS, MAX_REF_CHARS
from wire.qr import (
    CST,
    MAX_QR_VERSION,
    PayloadError,
    build_qr_text,
    decode_body,
    encode_body,
    qr_version,
    signed_message,
    split_qr_text,
)
from wire.signing import KeyFileError, SigningKey
from wire.trust import TrustedKey, TrustList, TrustListError, load_trust_list, parse_trust_list
from wire.verify import Reason, verify_qr_text

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def trust_for(key: SigningKey, **overrides: object) -> TrustList:
    entry: dict = {
        "county": "330100",
        "device_id": "K001",
        "public_key": key.public_bytes,
        "valid_from": NOW - timedelta(days=30),
    }
    entry.update(overrides)
    return TrustList("330100", 1, NOW, NOW + timedelta(days=30), (TrustedKey(**entry),))


def test_payload_round_trip_is_uppercase_alphanumeric() -> None:
    key = SigningKey.generate()
    text = signed_qr(key)
    assert text == text.upper() and " " not in text
    url, body, _ = split_qr_text(text)
    assert url == URL
    assert decode_body(body) == fields()
    assert verify_qr_text(text, trust_for(key), NOW).valid


def test_every_changed_character_fails_verification() -> None:
    key = SigningKey.generate()
    text = signed_qr(key)
    trust = trust_for(key)
    for i, char in enumerate(text):
        replacement = "B" if char != "B" else "C"
        tampered = text[:i] + replacement + text[i + 1 :]
        verdict = verify_qr_text(tampered, trust, NOW)
        assert not verdict.valid, f"change at {i} ({char}->{replacement}) still verified"
        assert verdict.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNKNOWN_KIOSK)


def test_changed_bytes_inside_the_payload_fail() -> None:
    key = SigningKey.generate()
    body = encode_body(fields())
    sig = key.sign(signed_message(URL, body))
    for i in range(len(body)):
        changed = bytearray(body)
        changed[i] ^= 0x01
        verdict = verify_qr_text(build_qr_text(URL, bytes(changed), sig), trust_for(key), NOW)
        assert not verdict.valid, i


@pytest.mark.parametrize(
    ("trust_kwargs", "reason"),
    [
        ({"device_id": "K002"}, Reason.UNKNOWN_KIOSK),
        ({"revoked_at": NOW - timedelta(days=1)}, Reason.REVOKED),
        ({"valid_from": NOW}, Reason.KEY_NOT_VALID_THEN),
    ],
)
def test_trust_verdicts(trust_kwargs: dict, reason: Reason) -> None:
    key = SigningKey.generate()
    verdict = verify_qr_text(signed_qr(key), trust_for(key, **trust_kwargs), NOW)
    assert verdict.reason is reason
    assert not verdict.valid


def test_another_kiosks_key_is_a_bad_signature() -> None:
    signer, stranger = SigningKey.generate(), SigningKey.generate()
    verdict = verify_qr_text(signed_qr(signer), trust_for(stranger), NOW)
    assert verdict.reason is Reason.BAD_SIGNATURE


def test_expired_trust_list_gives_a_clear_verdict() -> None:
    key = SigningKey.generate()
    verdict = verify_qr_text(signed_qr(key), trust_for(key), NOW + timedelta(days=31))
    assert verdict.reason is Reason.TRUST_LIST_EXPIRED
    assert "过期" in verdict.message


@pytest.mark.parametrize(
    "text", ["", "hello", "HTTPS://QS.EXAMPLE.GOV.CN/V/", URL + "!!!!", URL + "AAAA", "12345"]
)
def test_malformed_qr_texts(text: str) -> None:
    assert verify_qr_text(text, trust_for(SigningKey.generate()), NOW).reason is Reason.MALFORMED


def test_longest_allowed_fields_fit_qr_version_12() -> None:
    """Every field at its longest fits, with a 20-character 主体 name (a cooperative's
    full name: 巴中市巴州区清江镇绿源蔬菜专业合作社 is 18). Names up to MAX_ISSUER_CHARS
    (50) are taken when the QR holds them with the rest; past that the kiosk refuses
    naming issuer.name before a number (tests/test_certificate_rules.py)."""
    key = SigningKey.generate()
    assert MAX_ISSUER_CHARS == 50
    longest = fields(
        issuer="豫" * 20,
        origin="豫" * MAX_ORIGIN_CHARS,
        product="南美白对虾",
        quantity="99999.99公斤",
        test_ref="R" * MAX_REF_CHARS,
        source_certificate="",
    )
    assert qr_version(signed_qr(key, longest)) <= MAX_QR_VERSION


def test_payload_rejects_truncation_and_trailing_bytes() -> None:
    body = encode_body(fields())
    with pytest.raises(PayloadError):
        decode_body(body[:-1])
    with pytest.raises(PayloadError):
        decode_body(body + b"\x00")


def test_key_file_is_private_and_refused_when_open(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    key = SigningKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load_or_create(path).public_bytes == key.public_bytes
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        SigningKey.load(path)


def test_trust_list_signed_by_county(tmp_path: Path) -> None:
    county = SigningKey.generate()
    kiosk_key = SigningKey.generate()
    document = trust_for(kiosk_key).sign(county)
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(document), "utf-8")
    loaded = load_trust_list(path, [county.public_bytes])
    assert loaded.find("330100", "K001")[0].public_key == kiosk_key.public_bytes
    with pytest.raises(TrustListError, match="signature"):
        load_trust_list(path, [SigningKey.generate().public_bytes])
    tampered = dict(document, body=document["body"].replace("K001", "K002"))
    with pytest.raises(TrustListError):
        parse_trust_list(tampered, [county.public_bytes])
    with pytest.raises(TrustListError):
        parse_trust_list({"body": "{}"}, [county.public_bytes])


def test_issue_time_round_trips_in_china_time() -> None:
    f = fields(issued_at=datetime(2026, 3, 1, 1, 2, tzinfo=UTC))
    assert decode_body(encode_body(f)).issued_at == datetime(2026, 3, 1, 9, 2, tzinfo=CST)


def test_arithmetic_qr_version_matches_the_encoder() -> None:
    import random

    import segno

    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    rng = random.Random(7)
    for n in [*range(1, 460, 7), 700, 1200]:
        text = "".join(rng.choice(alphabet) for _ in range(n))
        assert qr_version(text) == segno.make_qr(text, error="m", boost_error=False).version, n
    assert (
        qr_version("http://lower.case/") == segno.make_qr("http://lower.case/", error="m").version
    )
