"""Reader firmware images: the signed manifest the bootloader checks (docs/protocol.md).

The bootloader verifies an Ed25519 signature over SIGNED_CONTEXT || SHA-256(image) ||
size (u32 LE) || version, so a valid hash alone never makes an image acceptable.
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNED_CONTEXT = b"AGRIQS-READER-FW\x00\x01"
IMAGE_MAGIC = b"AQFW"  # the first bytes of an image that boots on the simulated MCU


@dataclass(frozen=True)
class SignedFirmware:
    """An image plus the manifest fields sent in FW_BEGIN."""

    image: bytes
    version: str
    sha256: bytes
    signature: bytes

    @property
    def size(self) -> int:
        return len(self.image)


def signed_message(sha256: bytes, size: int, version: str) -> bytes:
    """The exact bytes the Ed25519 signature covers."""
    return SIGNED_CONTEXT + sha256 + struct.pack("<I", size) + version.encode("utf-8")


def sign_image(image: bytes, version: str, key: Ed25519PrivateKey) -> SignedFirmware:
    """Hash and sign an image with the vendor's release key."""
    digest = hashlib.sha256(image).digest()
    return SignedFirmware(
        image, version, digest, key.sign(signed_message(digest, len(image), version))
    )


def verify_manifest(
    sha256: bytes, size: int, version: str, signature: bytes, public_key: bytes
) -> bool:
    """True if `signature` is the release key's signature of this manifest."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signed_message(sha256, size, version)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def build_test_image(version: str, size: int = 256 * 1024, *, bootable: bool = True) -> bytes:
    """A synthetic image of `size` bytes; `bootable=False` makes one that hangs on boot."""
    head = (IMAGE_MAGIC if bootable else b"XXXX") + version.encode("utf-8").ljust(28, b"\0")
    body = random.Random(version).randbytes(max(0, size - len(head)))
    return (head + body)[:size]


def image_boots(image: bytes) -> bool:
    """Whether the simulated MCU runs this image (it starts with IMAGE_MAGIC)."""
    return image.startswith(IMAGE_MAGIC)
