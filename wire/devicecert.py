"""TLS client certificates for kiosks (issue 18 item 3): the kiosk makes its own key and a
certificate signing request; the county's device CA signs it with CN = ``{county}/{device}``
(the broker's ``use_identity_as_username`` makes that the MQTT username, so the deployed
ACL applies unchanged); a revoked certificate goes into the CA's CRL, which the broker
reads (``crlfile``).

The private key never leaves the kiosk (written 0600 beside its other keys); the CA
signs only a request whose signature holds and whose CN is the device the county
names, and it sets the CN itself.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wire.files import PRIVATE, PUBLIC, atomic_write

KEY_FILE = "mqtt-client.key"
CSR_FILE = "mqtt-client.csr"
CERT_FILE = "mqtt-client.pem"
#: A kiosk asks for a new certificate this long before its certificate expires.
RENEW_BEFORE = timedelta(days=30)


class DeviceCertError(ValueError):
    """A request or certificate the county will not sign or the kiosk cannot use."""


def identity(county: str, device: str) -> str:
    """The certificate's CN and so the broker username: ``330100/K001``."""
    return f"{county}/{device}"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def request_certificate(keys_dir: Path, county: str, device: str) -> Path:
    """The kiosk's side: a P-256 key (kept if there is one; 0600) and a CSR for
    ``{county}/{device}``; returns the CSR's path (the only thing that leaves)."""
    key_path = keys_dir / KEY_FILE
    if key_path.exists():
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise DeviceCertError(f"{key_path}: not an EC key")
        key = loaded
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(key_path, _key_pem(key), mode=PRIVATE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity(county, device))])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csr_path = keys_dir / CSR_FILE
    atomic_write(csr_path, csr.public_bytes(serialization.Encoding.PEM), mode=PUBLIC)
    return csr_path


def install_certificate(keys_dir: Path, cert_pem: bytes, county: str, device: str) -> Path:
    """The kiosk's side: keep a certificate only if it is for this device and this key."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    if common_name(cert) != identity(county, device):
        raise DeviceCertError(f"certificate is for {common_name(cert)!r}, not this kiosk")
    key = serialization.load_pem_private_key((keys_dir / KEY_FILE).read_bytes(), None)
    if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]  # EC keys both
        raise DeviceCertError("certificate is not for this kiosk's key")
    path = keys_dir / CERT_FILE
    atomic_write(path, cert_pem, mode=PUBLIC)
    return path


def needs_renewal(cert_pem: bytes, now: datetime) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return now >= cert.not_valid_after_utc - RENEW_BEFORE


def not_after(cert_pem: bytes) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def new_device_ca(county: str, now: datetime, days: int = 3650) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a county's device CA; keep the key offline, 0600."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"AgriQS devices {county}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def sign_request(
    csr_pem: bytes,
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    county: str,
    device: str,
    now: datetime,
    *,
    days: int = 365,
) -> bytes:
    """The county's side: sign a kiosk's CSR for exactly ``{county}/{device}``."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as error:
        raise DeviceCertError(f"not a certificate request: {error}") from None
    if not csr.is_signature_valid:
        raise DeviceCertError("the request's signature does not hold")
    wanted = identity(county, device)
    if common_name(csr) != wanted:
        raise DeviceCertError(f"the request names {common_name(csr)!r}, not {wanted!r}")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.key_size < 256:
        raise DeviceCertError("the request's key must be EC P-256 or stronger")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise DeviceCertError("the device CA key must be an EC key")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def make_crl(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    revoked: list[tuple[int, datetime]],
    now: datetime,
    *,
    days: int = 30,
) -> bytes:
    """The CA's revocation list (serial, when) for the broker's ``crlfile``."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise DeviceCertError("the device CA key must be an EC key")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=days))
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def serial_of(cert_pem: bytes) -> int:
    return x509.load_pem_x509_certificate(cert_pem).serial_number
