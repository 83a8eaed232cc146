"""Certificate fields and signed QR texts for tests that need a valid label payload."""

from __future__ import annotations

from datetime import datetime

from wire.clock import CST
from wire.qr import CertificateFields, build_qr_text, encode_body, signed_message
from wire.signing import SigningKey

URL = "HTTPS://QS.EXAMPLE.GOV.CN/V/"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=CST)


def fields(**overrides: object) -> CertificateFields:
    values: dict = {
        "number": "330100-K001-0000042",
        "product": "青菜",
        "quantity": "12.5公斤",
        "origin": "浙江省杭州市示范镇示范村",
        "issuer": "张秀英",
        "phone": "13812345678",
        "issued_at": NOW.replace(hour=9),
        "basis": "self_test",
        "template_code": 1,
        "test_ref": "RT-K001-000007",
    }
    values.update(overrides)
    return CertificateFields(**values)


def signed_qr(key: SigningKey, f: CertificateFields | None = None) -> str:
    body = encode_body(f or fields())
    return build_qr_text(URL, body, key.sign(signed_message(URL, body)))
