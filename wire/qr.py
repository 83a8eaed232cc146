"""The signed QR payload: a verify-page URL that carries the certificate itself.

Layout (docs/qr.md has the byte table)::

    QR text = VERIFY_URL + BASE32(body || signature)      (upper case, no padding)
    body    = format(1) issued_minutes(4, big endian) basis(1) template_code(1)
              then length-prefixed GB18030 strings: number, product, quantity, origin,
              issuer, phone, test_ref, source_certificate
    signature = Ed25519(VERIFY_URL bytes || body)

Base32 keeps every character in the QR alphanumeric set (5.5 bits per character)
and in a URL path; GB18030 stores a Chinese character in 2 bytes, not UTF-8's 3.
The URL is signed too, so any changed byte of the QR text fails verification.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from wire.clock import CST
from wire.signing import SIGNATURE_SIZE

FORMAT_VERSION = 1
#: Largest QR the 60×40 mm label can print with ≥ 20 mm and 3-dot modules.
MAX_QR_VERSION = 12
QR_ERROR_LEVEL = "M"

#: Code 9 marks a 快速检测结果单 (rapid-test result slip), not a certificate: the same
#: signed layout, with number = county-device-test id, quantity = the batch, origin =
#: the sampling place, issuer/phone = the producer, test_ref = the verdict in words,
#: source_certificate = "method|kit lot|sample". Certificate checks refuse it.
SLIP_BASIS = "rapidtest_slip"
_BASIS_CODES = {"quality_control": 1, "self_test": 2, "commissioned_test": 3, SLIP_BASIS: 9}
_BASIS_NAMES = {v: k for k, v in _BASIS_CODES.items()}
_STRING_FIELDS = (
    "number",
    "product",
    "quantity",
    "origin",
    "issuer",
    "phone",
    "test_ref",
    "source_certificate",
)


class PayloadError(ValueError):
    """The QR text is not a certificate payload this kiosk understands."""


@dataclass(frozen=True)
class CertificateFields:
    """What the QR carries: enough to show and check a certificate offline."""

    number: str
    product: str
    quantity: str  # with its unit, as printed: "12.5公斤"
    origin: str
    issuer: str
    phone: str
    issued_at: datetime
    basis: str
    template_code: int
    test_ref: str = ""
    source_certificate: str = ""

    @property
    def is_slip(self) -> bool:
        """A rapid-test result slip, not a certificate."""
        return self.basis == SLIP_BASIS

    @property
    def county(self) -> str:
        return self.number.split("-")[0]

    @property
    def device_id(self) -> str:
        parts = self.number.split("-")
        return parts[1] if len(parts) == 3 else ""


def encode_body(fields: CertificateFields) -> bytes:
    minutes = int(fields.issued_at.timestamp() // 60)
    out = bytearray(
        struct.pack(
            ">BIBB",
            FORMAT_VERSION,
            minutes,
            _BASIS_CODES[fields.basis],
            fields.template_code,
        )
    )
    for name in _STRING_FIELDS:
        raw = getattr(fields, name).encode("gb18030")
        if len(raw) > 255:
            raise PayloadError(f"{name} is too long for the QR ({len(raw)} bytes)")
        out.append(len(raw))
        out += raw
    return bytes(out)


def decode_body(body: bytes) -> CertificateFields:
    try:
        version, minutes, basis, template_code = struct.unpack_from(">BIBB", body)
    except struct.error:
        raise PayloadError("payload too short") from None
    if version != FORMAT_VERSION:
        raise PayloadError(f"unknown payload format {version}")
    if basis not in _BASIS_NAMES:
        raise PayloadError(f"unknown basis code {basis}")
    offset = struct.calcsize(">BIBB")
    values = {}
    for name in _STRING_FIELDS:
        if offset >= len(body):
            raise PayloadError(f"payload ends before field {name}")
        length = body[offset]
        raw = body[offset + 1 : offset + 1 + length]
        if len(raw) != length:
            raise PayloadError(f"field {name} is cut short")
        try:
            values[name] = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise PayloadError(f"field {name} is not GB18030 text") from None
        offset += 1 + length
    if offset != len(body):
        raise PayloadError("trailing bytes after the last field")
    issued = datetime.fromtimestamp(minutes * 60, UTC).astimezone(CST)
    return CertificateFields(
        issued_at=issued, basis=_BASIS_NAMES[basis], template_code=template_code, **values
    )


def signed_message(verify_url: str, body: bytes) -> bytes:
    return verify_url.encode("ascii") + body


def build_qr_text(verify_url: str, body: bytes, signature: bytes) -> str:
    token = base64.b32encode(body + signature).decode("ascii").rstrip("=")
    return verify_url + token


def split_qr_text(text: str) -> tuple[str, bytes, bytes]:
    """(verify_url, body, signature) of a scanned QR text; PayloadError when malformed."""
    text = text.strip()
    cut = text.rfind("/")
    if cut < 0 or not text.upper().startswith(("HTTP://", "HTTPS://")):
        raise PayloadError("not a certificate QR: no verify URL")
    url, token = text[: cut + 1], text[cut + 1 :]
    if not token:
        raise PayloadError("not a certificate QR: no payload after the URL")
    if "=" in token:
        raise PayloadError("payload is not canonical base32 (padding)")
    padded = token + "=" * (-len(token) % 8)
    try:
        raw = base64.b32decode(padded, casefold=False)
    except (binascii.Error, ValueError):
        raise PayloadError("payload is not base32") from None
    # One text per payload: the unused bits of the last character must be zero, or a
    # changed last character (a different QR text) would verify as the same certificate.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != token:
        raise PayloadError("payload is not canonical base32")
    if len(raw) <= SIGNATURE_SIZE:
        raise PayloadError("payload too short to carry a signature")
    return url, raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]


#: Data codewords per QR version (1..40) at error level M (ISO/IEC 18004 table 7).
_DATA_CODEWORDS_M = (
    16, 28, 44, 64, 86, 108, 124, 154, 182, 216, 254, 290, 334, 365, 415, 453, 507, 563, 627,
    669, 714, 782, 860, 914, 1000, 1062, 1128, 1193, 1267, 1373, 1455, 1541, 1631, 1725, 1812,
    1914, 1992, 2102, 2216, 2334,
)  # fmt: skip
_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_version(text: str) -> int:
    """The smallest QR version that holds ``text`` at error level M.

    Our QR texts are one alphanumeric segment, whose size is arithmetic; encoding a
    symbol just to learn its version costs ~40 ms (mask evaluation) on this machine.
    """
    if not _ALPHANUMERIC.issuperset(text):
        import segno  # here: ~0.05 s of the kiosk's cold start, needed at the first QR

        version = segno.make_qr(text, error=QR_ERROR_LEVEL.lower(), boost_error=False).version
        return int(version)
    n = len(text)
    for version, codewords in enumerate(_DATA_CODEWORDS_M, start=1):
        count_bits = 9 if version <= 9 else 11 if version <= 26 else 13
        bits = 4 + count_bits + 11 * (n // 2) + 6 * (n % 2)
        if bits <= codewords * 8:
            return version
    raise PayloadError(f"{n} characters do not fit any QR version")
