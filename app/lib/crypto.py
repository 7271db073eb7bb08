"""Secrets at rest: virtual keys hashed with a server pepper, provider credentials encrypted.

Both keys are derived (HKDF-SHA256) from the one configured secret, each for its own purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"alchemi-studio-console", info=purpose).derive(
        secret.encode()
    )


class KeyHasher:
    """Turns a presented key into the only form we store: HMAC-SHA256 with a server-side pepper."""

    def __init__(self, secret: str, purpose: bytes = b"virtual-key-pepper") -> None:
        self._pepper = _derive(secret, purpose)

    def hash(self, key: str) -> str:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()


class CredentialBox:
    """Encrypts provider credentials before they reach PostgreSQL."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"provider-credentials")))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("credential cannot be decrypted with the configured secret") from exc


def invitation_token_hasher(secret: str) -> KeyHasher:
    """Invitation links' tokens get a pepper of their own: a leaked hash of one kind says nothing of the other."""
    return KeyHasher(secret, b"invitation-token-pepper")


def session_signing_key(secret: str) -> bytes:
    """Console session tokens are signed (HMAC-SHA256) with a key of their own purpose."""
    return _derive(secret, b"console-session")


def new_virtual_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    return f"{key[:7]}…{key[-4:]}"


def keys_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
