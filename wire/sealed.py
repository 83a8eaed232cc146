"""Sealed boxes for the county's recovery key: X25519 + HKDF-SHA256 + ChaCha20-Poly1305.

A kiosk's USB backup copies leave the building on a stick; the secrets in them (PIN
hashes) are sealed to a public key the county configures (``[backup] recovery_key``),
whose private half stays at the county. Only someone holding it can put the hashes
back on a restore; anyone else who finds the stick gets no hash to attack offline.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wire.files import PRIVATE, atomic_write
from wire.signing import key_id

ALGORITHM = "x25519-hkdf-sha256-chacha20poly1305"
_INFO = b"agriqs sealed box v1"


class SealError(ValueError):
    """A sealed document that cannot be opened (wrong key, altered, not ours)."""


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def decode_recovery_key(text: str) -> bytes:
    """A recovery public key given as base64 (32 raw X25519 bytes)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("recovery_key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"an X25519 public key has 32 bytes, not {len(raw)}")
    return raw


def seal(recipient: bytes, data: dict[str, Any]) -> dict[str, str]:
    """``data`` as JSON, encrypted so that only the holder of ``recipient``'s private key
    can read it (a fresh ephemeral key per box)."""
    ephemeral = X25519PrivateKey.generate()
    eph_raw = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    nonce = os.urandom(12)
    plain = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    box = ChaCha20Poly1305(_key(shared, eph_raw, recipient)).encrypt(nonce, plain, _INFO)
    b64 = base64.b64encode
    return {"alg": ALGORITHM, "recipient": key_id(recipient),
            "ephemeral": b64(eph_raw).decode(), "nonce": b64(nonce).decode(),
            "ciphertext": b64(box).decode()}  # fmt: skip


def unseal(private: X25519PrivateKey, box: dict[str, Any]) -> dict[str, Any]:
    """The sealed JSON document; ``SealError`` for a wrong key or an altered box."""
    try:
        if box.get("alg") != ALGORITHM:
            raise SealError(f"unknown sealing {box.get('alg')!r}")
        recipient = _raw(private.public_key())
        eph_raw = base64.b64decode(box["ephemeral"], validate=True)
        nonce = base64.b64decode(box["nonce"], validate=True)
        ciphertext = base64.b64decode(box["ciphertext"], validate=True)
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        plain = ChaCha20Poly1305(_key(shared, eph_raw, recipient)).decrypt(nonce, ciphertext, _INFO)
        data = json.loads(plain)
    except (KeyError, ValueError, TypeError, InvalidTag) as error:
        raise SealError(f"the sealed secrets cannot be opened with this key: {error!r}") from None
    if not isinstance(data, dict):
        raise SealError("the sealed secrets are not a JSON object")
    return data


def new_recovery_key(path: Path) -> bytes:
    """Write a new private recovery key (PEM, 0600) to ``path``; returns its public key."""
    private = X25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    atomic_write(path, pem, mode=PRIVATE)
    return _raw(private.public_key())


def load_recovery_key(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise SealError(f"{path} is not a readable PEM private key: {error}") from None
    if not isinstance(key, X25519PrivateKey):
        raise SealError(f"{path} is not an X25519 recovery key")
    return key
