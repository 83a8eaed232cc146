"""Ed25519 keys: the kiosk's certificate-signing key and signature checks.

The private key is made on first start and never leaves the kiosk; it is
written with mode 0600 before any byte of it reaches the disk.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wire.files import PRIVATE, atomic_write

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32


class KeyFileError(RuntimeError):
    """A key file is unreadable, of the wrong kind, or too open."""


def key_id(public_key: bytes) -> str:
    """Short fingerprint for logs and listings: first 8 bytes of SHA-256, hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class SigningKey:
    """An Ed25519 private key kept in a PEM file with mode 0600."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key at ``path``; make one when the file does not exist yet."""
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return key

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyFileError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as error:
            raise KeyFileError(f"{path} is not a PEM private key: {error}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path} is not an Ed25519 key")
        return cls(private)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=PRIVATE)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_bytes).decode("ascii")

    @property
    def key_id(self) -> str:
        return key_id(self.public_bytes)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def decode_public_key(text: str) -> bytes:
    """A public key given as base64 (config files, trust lists)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"not a base64 public key: {text[:20]!r}") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw
