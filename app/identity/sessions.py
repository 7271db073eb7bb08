"""Console sessions: a short-lived signed token in an HttpOnly cookie, and a readable CSRF cookie beside it.

The token is a JWT (HS256, with a key HKDF'd from the secret key for this purpose only) carrying the
session id, user, account, role, email, how the session was obtained, and the SHA-256 of the CSRF
token. A state-changing request authenticated by the cookie must repeat the CSRF cookie in
`x-csrf-token` (double submit); the hash in the token binds that value to this very session, so a
CSRF cookie planted by a sibling subdomain does not pass. Logout puts the session id on a deny list
in Redis until the token would have expired anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from uuid import UUID

import msgspec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from litestar.datastructures import Cookie

from app.lib.crypto import session_signing_key
from app.lib.errors import AuthenticationFailed, PermissionDenied

SESSION_COOKIE = "alchemi_session"
CSRF_COOKIE = "alchemi_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ISSUER = "alchemi-console"
_ALGORITHMS = ["HS256"]
_REVOKED = "alchemi:session:revoked:"


class Session(msgspec.Struct, frozen=True):
    sid: str
    role: str
    user_id: UUID | None
    account_id: UUID | None
    email: str | None
    method: str  # "password" | "sso"
    csrf: str  # SHA-256 (hex) of the CSRF token
    issued_at: int
    expires_at: int


class IssuedSession(msgspec.Struct, frozen=True):
    session: Session
    token: str
    csrf_token: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def request_cookies(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's cookies; of a name sent twice, the first (most specific path) wins."""
    cookies: dict[str, str] = {}
    for part in (headers.get("cookie") or "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


class Sessions:
    def __init__(self, secret: str, redis, ttl: int) -> None:
        self._key = OctKey.import_key(session_signing_key(secret))
        self._redis = redis
        self.ttl = ttl

    def issue(self, *, role: str, user_id: UUID | None, account_id: UUID | None, email: str | None,
              method: str) -> IssuedSession:
        now = int(time.time())
        csrf_token = secrets.token_urlsafe(32)
        session = Session(sid=secrets.token_urlsafe(16), role=role, user_id=user_id, account_id=account_id,
                          email=email, method=method, csrf=_digest(csrf_token), issued_at=now,
                          expires_at=now + self.ttl)
        claims = {
            "iss": _ISSUER, "sid": session.sid, "role": role, "uid": str(user_id) if user_id else None,
            "acc": str(account_id) if account_id else None, "email": email, "amr": method, "csrf": session.csrf,
            "iat": now, "exp": session.expires_at,
        }
        token = jwt.encode({"alg": "HS256"}, claims, self._key, algorithms=_ALGORITHMS)
        return IssuedSession(session=session, token=token, csrf_token=csrf_token)

    def decode(self, token: str) -> Session | None:
        """The session in a token: None unless our signature, our issuer, and not expired."""
        try:
            claims = jwt.decode(token, self._key, algorithms=_ALGORITHMS).claims
            session = Session(
                sid=claims["sid"], role=claims["role"], user_id=UUID(claims["uid"]) if claims["uid"] else None,
                account_id=UUID(claims["acc"]) if claims["acc"] else None, email=claims["email"],
                method=claims["amr"], csrf=claims["csrf"], issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
            )
        except (JoseError, KeyError, TypeError, ValueError):
            return None
        if claims.get("iss") != _ISSUER or session.expires_at <= time.time():
            return None
        return session

    async def from_request(self, headers: Mapping[str, str], method: str) -> Session | None:
        """The request's live session (None without a session cookie). A cookie that is forged,
        expired or logged out is a 401; a state-changing request without the CSRF header a 403."""
        cookies = request_cookies(headers)
        token = cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = self.decode(token)
        if session is None or await self._redis.exists(_REVOKED + session.sid):
            raise AuthenticationFailed("Your console session has expired: sign in again", code="session_expired")
        if method.upper() not in SAFE_METHODS:
            require_csrf(headers, cookies, session)
        return session

    async def revoke(self, session: Session) -> None:
        remaining = session.expires_at - int(time.time())
        if remaining > 0:
            await self._redis.set(_REVOKED + session.sid, b"1", ex=remaining)


def require_csrf(headers: Mapping[str, str], cookies: Mapping[str, str], session: Session) -> None:
    sent = headers.get(CSRF_HEADER) or ""
    cookie = cookies.get(CSRF_COOKIE) or ""
    matches = hmac.compare_digest(sent.encode(), cookie.encode())
    bound = hmac.compare_digest(_digest(sent), session.csrf)
    if not sent or not (matches and bound):
        raise PermissionDenied(f"This console request needs the '{CSRF_HEADER}' header (the {CSRF_COOKIE} cookie)",
                               param=CSRF_HEADER, code="csrf_failed")


def session_cookies(issued: IssuedSession, ttl: int) -> list[Cookie]:
    return [
        Cookie(key=SESSION_COOKIE, value=issued.token, max_age=ttl, path="/", secure=True, httponly=True,
               samesite="lax"),
        # Readable by the console's script: it repeats it in x-csrf-token.
        Cookie(key=CSRF_COOKIE, value=issued.csrf_token, max_age=ttl, path="/", secure=True, httponly=False,
               samesite="lax"),
    ]


def cleared_cookies() -> list[Cookie]:
    return [Cookie(key=name, value="", max_age=0, expires=0, path="/", secure=True, httponly=name == SESSION_COOKIE,
                   samesite="lax") for name in (SESSION_COOKIE, CSRF_COOKIE)]
