"""Turns a request's credentials into a Principal and sets the account the request acts in.

An API key (Bearer / x-api-key / api-key) wins; without one, the console's session cookie is used
(app/identity/sessions.py), and a state-changing request must then carry the CSRF header."""

from __future__ import annotations

import time
from collections.abc import Mapping
from uuid import UUID

from app.auth.cache import UNKNOWN, PrincipalCache
from app.auth.principal import SUPER_ADMIN, Principal
from app.auth.queries import load_account_principal, load_principal, load_user_principal
from app.identity.sessions import Session, Sessions
from app.lib.crypto import KeyHasher, keys_equal
from app.lib.errors import AuthenticationFailed, InvalidRequest, NotFound
from app.settings import get_settings
from app.tenancy.context import set_current_account

ACCOUNT_HEADER = "x-alchemi-account-id"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer`, or `x-api-key` (Anthropic SDK), or `api-key` (Azure SDK)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or headers.get("api-key") or None


class Authenticator:
    def __init__(self, *, master_key: str | None, pool, cache: PrincipalCache, hasher: KeyHasher,
                 sessions: Sessions | None = None) -> None:
        self._master_key = master_key
        self._pool = pool
        self._cache = cache
        self._hasher = hasher
        self.sessions = sessions

    async def authenticate(self, headers: Mapping[str, str], method: str = "POST") -> Principal:
        """`method` decides whether a cookie-authenticated request needs the CSRF header: callers
        that do not pass it get the strict answer (it is needed)."""
        key = presented_key(headers)
        session = None
        if key is None and self.sessions is not None:
            session = await self.sessions.from_request(headers, method)
        if key is None and session is None:
            raise AuthenticationFailed("No API key provided: send 'Authorization: Bearer <key>'")
        if session is not None:
            principal = await self._session_user(session, headers)
        elif self._master_key and keys_equal(key, self._master_key):
            principal = await self._super_admin(headers)
        else:
            principal = await self._virtual_key(key)
        set_current_account(principal.account_id)
        return principal

    async def _session_user(self, session: Session, headers: Mapping[str, str]) -> Principal:
        """A console session: the super admin as with the master key, or the user as they are now."""
        if session.role == SUPER_ADMIN and session.user_id is None:
            # Taken off SUPER_ADMIN_EMAILS since signing in: the power ends now, not when the session does.
            if session.method == "sso" and session.email not in get_settings().super_admin_emails:
                raise AuthenticationFailed("Your console session is no longer valid: sign in again",
                                           code="session_expired")
            return await self._super_admin(headers)
        principal = await load_user_principal(self._pool, session.user_id, session.account_id)
        if principal is None:
            raise AuthenticationFailed("Your console session is no longer valid: sign in again", code="session_expired")
        return principal

    async def _virtual_key(self, key: str) -> Principal:
        key_hash = self._hasher.hash(key)
        principal = self._cache.get(key_hash)
        if principal is UNKNOWN:
            generation = self._cache.generation
            principal = await load_principal(self._pool, key_hash)
            self._cache.put(key_hash, principal, generation)
        if principal is None:
            raise AuthenticationFailed("Invalid API key")
        if principal.expires_at is not None and principal.expires_at < time.time():
            raise AuthenticationFailed("This API key has expired", code="expired_api_key")
        return principal

    async def _super_admin(self, headers: Mapping[str, str]) -> Principal:
        """The super admin, acting inside the account named by x-alchemi-account-id (checked to be live)."""
        raw = headers.get(ACCOUNT_HEADER)
        if not raw:
            return Principal(role=SUPER_ADMIN, account_id=None)
        try:
            account_id = UUID(raw)
        except ValueError:
            raise InvalidRequest(f"'{ACCOUNT_HEADER}' must be an account id", param=ACCOUNT_HEADER) from None
        principal = await load_account_principal(self._pool, account_id, SUPER_ADMIN)
        if principal is None:
            raise NotFound("No such account", param=ACCOUNT_HEADER, code="account_not_found")
        return principal
