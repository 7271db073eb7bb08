"""Turns a request's credentials into a Principal and sets the account the request acts in."""

from __future__ import annotations

import time
from collections.abc import Mapping
from uuid import UUID

from app.auth.cache import UNKNOWN, PrincipalCache
from app.auth.principal import SUPER_ADMIN, Principal
from app.auth.queries import load_account_principal, load_principal
from app.lib.crypto import KeyHasher, keys_equal
from app.lib.errors import AuthenticationFailed, InvalidRequest, NotFound
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
    def __init__(self, *, master_key: str | None, pool, cache: PrincipalCache, hasher: KeyHasher) -> None:
        self._master_key = master_key
        self._pool = pool
        self._cache = cache
        self._hasher = hasher

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        key = presented_key(headers)
        if key is None:
            raise AuthenticationFailed("No API key provided: send 'Authorization: Bearer <key>'")
        if self._master_key and keys_equal(key, self._master_key):
            principal = await self._super_admin(headers)
        else:
            principal = await self._virtual_key(key)
        set_current_account(principal.account_id)
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
