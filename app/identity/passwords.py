"""Console passwords at rest: scrypt (stdlib) with a per-user salt, in one self-describing string.

    scrypt$<log2 n>$<r>$<p>$<salt, base64url>$<hash, base64url>

Hashing costs ~50 ms and 32 MiB on purpose; it runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets

_LOG_N, _R, _P = 15, 8, 1
_LENGTH = 32
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 12


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=1 << log_n, r=r, p=p, maxmem=_MAXMEM, dklen=_LENGTH)


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${_LOG_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(password, salt, _LOG_N, _R, _P))}"


def verify_password_sync(password: str, stored: str | None) -> bool:
    """Constant-time check. Without a stored hash it still spends the same work, so a missing user
    or password cannot be told from a wrong one by timing."""
    try:
        scheme, log_n, r, p, salt, expected = (stored or _dummy_hash()).split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, _unb64(salt), int(log_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(expected)) and stored is not None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password: str, stored: str | None) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, stored)



@functools.cache
def _dummy_hash() -> str:
    return hash_password_sync(secrets.token_urlsafe(16))
