"""Signed JSON documents: trust lists, config bundles and remote commands share one form.

    {"body": "<JSON text>", "key_id": "<16 hex>", "signature": "<base64 Ed25519>"}

The body travels as the exact text that was signed, so no verifier has to
re-create a canonical form (a county web page in JavaScript can check it too).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from wire.signing import SigningKey, key_id, verify_signature


class SignatureError(ValueError):
    """The document is malformed, signed by an unknown key, or altered."""


def sign_document(body: dict[str, Any], key: SigningKey) -> dict[str, str]:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    signature = key.sign(text.encode("utf-8"))
    return {
        "body": text,
        "key_id": key.key_id,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def open_document(document: Any, trusted_keys: list[bytes]) -> dict[str, Any]:
    """The body of ``document`` if one of ``trusted_keys`` signed it exactly as it is."""
    if not isinstance(document, dict) or not {"body", "signature"} <= document.keys():
        raise SignatureError("not a signed document: needs body and signature")
    body_text, signature_text = document["body"], document["signature"]
    if not isinstance(body_text, str) or not isinstance(signature_text, str):
        raise SignatureError("body and signature must be strings")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError:
        raise SignatureError("signature is not base64") from None
    message = body_text.encode("utf-8")
    wanted = document.get("key_id")
    candidates = [k for k in trusted_keys if wanted in (None, key_id(k))] or trusted_keys
    if not any(verify_signature(k, message, signature) for k in candidates):
        raise SignatureError("signature does not match any trusted key")
    try:
        body = json.loads(body_text)
    except json.JSONDecodeError as error:
        raise SignatureError(f"signed body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise SignatureError("signed body must be a JSON object")
    return body
