"""Issuers' discovery documents and signing keys, fetched over the process's shared HTTP client and cached.

A key set is fetched again when a token names a `kid` we do not have (the issuer rotated its keys),
at most once per `REFRESH_GAP` seconds per issuer, so forged kids cannot make us hammer the issuer.
"""

from __future__ import annotations

import time

import httpx
import msgspec
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.lib.errors import UpstreamFailed

TTL = 3600.0
REFRESH_GAP = 30.0
_TIMEOUT = httpx.Timeout(10.0)
_MAX_DOCUMENT = 512 * 1024


class ProviderMetadata(msgspec.Struct, frozen=True):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    code_challenge_methods_supported: list[str] = []


def _unreachable(issuer: str) -> UpstreamFailed:
    return UpstreamFailed(f"The identity provider {issuer} could not be reached or answered nonsense",
                          code="sso_provider_unreachable")


class OidcDirectory:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._metadata: dict[str, tuple[ProviderMetadata, float]] = {}
        self._keys: dict[str, tuple[KeySet, float]] = {}

    async def _json(self, url: str, issuer: str) -> object:
        try:
            response = await self.http.get(url, timeout=_TIMEOUT, headers={"accept": "application/json"})
        except httpx.HTTPError:
            raise _unreachable(issuer) from None
        if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT:
            raise _unreachable(issuer)
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            raise _unreachable(issuer) from None

    async def metadata(self, issuer: str) -> ProviderMetadata:
        cached = self._metadata.get(issuer)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        document = await self._json(f"{issuer}/.well-known/openid-configuration", issuer)
        try:
            metadata = msgspec.convert(document, ProviderMetadata)
        except msgspec.ValidationError:
            raise _unreachable(issuer) from None
        # OpenID Connect Discovery 1.0 §4.3: the document must be about the issuer we asked.
        if metadata.issuer.rstrip("/") != issuer.rstrip("/"):
            raise UpstreamFailed(f"The identity provider's discovery document names another issuer than {issuer}",
                                 code="sso_issuer_mismatch")
        if metadata.code_challenge_methods_supported and "S256" not in metadata.code_challenge_methods_supported:
            raise UpstreamFailed("The identity provider does not support PKCE with S256", code="sso_pkce_unsupported")
        self._metadata[issuer] = (metadata, time.monotonic() + TTL)
        return metadata

    async def _key_set(self, metadata: ProviderMetadata, refresh: bool) -> KeySet | None:
        """The issuer's key set; with `refresh`, fetched again unless that happened moments ago (then None)."""
        cached = self._keys.get(metadata.jwks_uri)
        now = time.monotonic()
        if cached and not refresh and cached[1] + TTL > now:
            return cached[0]
        if cached and refresh and cached[1] + REFRESH_GAP > now:
            return None
        document = await self._json(metadata.jwks_uri, metadata.issuer)
        try:
            keys = [key for key in document["keys"] if isinstance(key, dict) and key.get("use", "sig") == "sig"
                    and key.get("kty") in ("RSA", "EC")]  # type: ignore[index]
            key_set = KeySet.import_key_set({"keys": keys})
        except (JoseError, KeyError, TypeError, ValueError):
            raise _unreachable(metadata.issuer) from None
        self._keys[metadata.jwks_uri] = (key_set, now)
        return key_set

    def signing_keys(self, metadata: ProviderMetadata) -> IssuerKeys:
        return IssuerKeys(self, metadata)


class IssuerKeys:
    """The key lookup the ID token check uses for one issuer."""

    def __init__(self, directory: OidcDirectory, metadata: ProviderMetadata) -> None:
        self._directory = directory
        self._metadata = metadata

    async def find(self, kid: str | None, alg: str, *, refresh: bool = False) -> RSAKey | ECKey | None:
        key_set = await self._directory._key_set(self._metadata, refresh)
        return None if key_set is None else key_for(key_set, kid, alg)


def key_for(key_set: KeySet, kid: str | None, alg: str) -> RSAKey | ECKey | None:
    """The key of the right type for `alg` with this `kid`; without a kid, the only key of that type."""
    if alg == "RS256":
        matching = [key for key in key_set if isinstance(key, RSAKey)]
    elif alg == "ES256":
        matching = [key for key in key_set if isinstance(key, ECKey) and key.curve_name == "P-256"]
    else:
        return None
    if kid is None:
        return matching[0] if len(matching) == 1 else None
    return next((key for key in matching if key.kid == kid), None)
