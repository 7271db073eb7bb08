"""The `ZITADEL-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each v1 being
HMAC-SHA256(signing key, "<t>.<raw body>"). Zitadel sends several v1 values while a key rotates;
one match is enough."""

from __future__ import annotations

import hashlib
import hmac
import time

from app.lib.errors import AuthenticationFailed

TOLERANCE_S = 300
_MAX_HEADER = 2048


def _refuse(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, param="ZITADEL-Signature", code="invalid_signature")


def _parse(header: str) -> tuple[str, list[str]]:
    timestamp, signatures = "", []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1" and value:
            signatures.append(value.lower())
    return timestamp, signatures


def verify_signature(header: str | None, body: bytes, key: str | None, *, now: float | None = None,
                     tolerance: int = TOLERANCE_S) -> None:
    """Returns only for a body signed with `key` at most `tolerance` seconds ago (or ahead)."""
    if not key:
        raise _refuse("The Zitadel webhook is not configured (ZITADEL_WEBHOOK_SIGNING_KEY)")
    if not header or len(header) > _MAX_HEADER:
        raise _refuse("Missing ZITADEL-Signature header")
    timestamp, signatures = _parse(header)
    if not timestamp.isascii() or not timestamp.isdigit() or not signatures:
        raise _refuse("Malformed ZITADEL-Signature header")
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        raise _refuse("The signature's timestamp is outside the tolerance")
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    # Every candidate is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(expected.encode(), signature.encode()) for signature in signatures]
    if not any(matches):
        raise _refuse("The signature does not match")
