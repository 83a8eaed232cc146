"""Offline verification of a scanned certificate QR against a trust list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wire.qr import (
    CertificateFields,
    PayloadError,
    decode_body,
    signed_message,
    split_qr_text,
)
from wire.signing import verify_signature
from wire.trust import TrustList


class Reason(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    UNKNOWN_KIOSK = "unknown_kiosk"
    REVOKED = "revoked"
    KEY_NOT_VALID_THEN = "key_not_valid_at_issue_time"
    BAD_SIGNATURE = "bad_signature"
    TRUST_LIST_EXPIRED = "trust_list_expired"


MESSAGES = {
    Reason.VALID: "合格证真实有效",
    Reason.MALFORMED: "二维码不是合格证或已损坏",
    Reason.UNKNOWN_KIOSK: "开具终端不在信任列表中",
    Reason.REVOKED: "开具终端已被注销，合格证不可信",
    Reason.KEY_NOT_VALID_THEN: "开具时终端密钥不在有效期内",
    Reason.BAD_SIGNATURE: "签名不符：合格证内容被改动过",
    Reason.TRUST_LIST_EXPIRED: "信任列表已过期，请联网更新后再核验",
}


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    detail: str = ""
    fields: CertificateFields | None = None

    @property
    def valid(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def message(self) -> str:
        if self.reason is Reason.VALID and self.fields is not None and self.fields.is_slip:
            return "快速检测结果单真实有效"
        return MESSAGES[self.reason] + (f"（{self.detail}）" if self.detail else "")


def verify_qr_text(
    text: str,
    trust: TrustList,
    now: datetime,
    *,
    check_signature: Callable[[bytes, bytes, bytes], bool] = verify_signature,
) -> Verdict:
    """Check a QR text; never raises for bad input, the verdict says what is wrong.

    ``check_signature(public_key, message, signature)`` may be swapped for a faster
    implementation of the same Ed25519 check (the county's scan page caches keys)."""
    try:
        url, body, signature = split_qr_text(text)
        fields = decode_body(body)
    except PayloadError as error:
        return Verdict(Reason.MALFORMED, str(error))
    if trust.expired(now):
        return Verdict(Reason.TRUST_LIST_EXPIRED, f"expired {trust.expires_at}", fields)
    candidates = trust.find(fields.county, fields.device_id)
    if not candidates:
        return Verdict(Reason.UNKNOWN_KIOSK, f"{fields.county}-{fields.device_id}", fields)
    message = signed_message(url, body)
    matching = [k for k in candidates if check_signature(k.public_key, message, signature)]
    if not matching:
        return Verdict(Reason.BAD_SIGNATURE, "", fields)
    key = matching[0]
    if key.revoked_at is not None:
        return Verdict(Reason.REVOKED, f"revoked {key.revoked_at.isoformat()}", fields)
    issued = fields.issued_at
    if issued < key.valid_from.replace(second=0, microsecond=0) or (
        key.valid_until is not None and issued > key.valid_until
    ):
        return Verdict(Reason.KEY_NOT_VALID_THEN, issued.isoformat(), fields)
    return Verdict(Reason.VALID, "", fields)
