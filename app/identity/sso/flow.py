"""The authorization-code flow with PKCE (S256), `state` and `nonce`, shared by /sso/* and /zitadel/*.

`begin` keeps what the callback needs (nonce, code verifier, redirect URI, which account) in Redis
under the SHA-256 of `state`, for 10 minutes, and binds it to the browser with a random cookie whose
hash it also keeps: a callback URL replayed in another browser (login CSRF) has no matching cookie.
`take` removes the entry as it reads it (GETDEL), so a state is good for one callback only.
`exchange` redeems the code with authlib's client and returns the ID token's verified claims.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import ssl
from uuid import UUID

import httpx2
import msgspec
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.client import OAuth2Client

from app.identity.sso.config import IdentityProvider
from app.identity.sso.discovery import OidcDirectory
from app.identity.sso.id_tokens import IdTokenRules, validate_id_token
from app.lib.errors import AuthenticationFailed, UpstreamFailed

STATE_TTL = 600
BINDING_COOKIE = "alchemi_sso"
_STATE = "alchemi:sso:state:"
_TIMEOUT = httpx2.Timeout(10.0)


class PendingSignIn(msgspec.Struct, frozen=True):
    flow: str  # "account" (/sso/*) or "zitadel" (/zitadel/*)
    account_id: UUID | None
    issuer: str
    client_id: str
    redirect_uri: str
    nonce: str
    code_verifier: str
    browser: str  # SHA-256 of the binding cookie


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def refused(message: str, code: str = "sso_failed") -> AuthenticationFailed:
    return AuthenticationFailed(message, code=code)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: loading the trust store costs ~80 ms, once."""
    return httpx2.create_ssl_context()


def _settings(provider: IdentityProvider, redirect_uri: str) -> dict:
    return {"client_id": provider.client_id, "client_secret": provider.client_secret,
            "scope": " ".join(provider.scopes), "redirect_uri": redirect_uri, "code_challenge_method": "S256",
            "token_endpoint_auth_method": provider.token_endpoint_auth_method}


class SignInFlow:
    def __init__(self, redis, directory: OidcDirectory) -> None:
        self._redis = redis
        self.directory = directory

    async def begin(self, provider: IdentityProvider, *, flow: str, account_id: UUID | None, redirect_uri: str,
                    login_hint: str | None) -> tuple[str, str]:
        """The issuer's authorization URL to send the browser to, and the value of the binding cookie."""
        metadata = await self.directory.metadata(provider.issuer)
        state, nonce, verifier, browser = (secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64),
                                           secrets.token_urlsafe(32))
        pending = PendingSignIn(flow=flow, account_id=account_id, issuer=provider.issuer,
                                client_id=provider.client_id, redirect_uri=redirect_uri, nonce=nonce,
                                code_verifier=verifier, browser=_digest(browser))
        await self._redis.set(_STATE + _digest(state), msgspec.json.encode(pending), ex=STATE_TTL)
        extra = {"login_hint": login_hint} if login_hint else {}
        # Building the URL needs no HTTP client: authlib's protocol-only client does it.
        url, _ = OAuth2Client(None, **_settings(provider, redirect_uri)).create_authorization_url(
            metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier, **extra)
        return url, browser

    async def take(self, state: str | None, browser: str | None) -> PendingSignIn:
        """The sign-in this callback finishes; gone from Redis from now on, whatever happens next."""
        if not state or len(state) > 200:
            raise refused("The sign-in has no state: start again from the login page", "sso_state_invalid")
        raw = await self._redis.getdel(_STATE + _digest(state))
        if raw is None:
            raise refused("This sign-in is unknown, expired or already used: start again", "sso_state_invalid")
        pending = msgspec.json.decode(raw, type=PendingSignIn)
        if not browser or not hmac.compare_digest(_digest(browser), pending.browser):
            raise refused("This sign-in was started in another browser: start again", "sso_state_invalid")
        return pending

    async def exchange(self, provider: IdentityProvider, pending: PendingSignIn, code: str | None,
                       issuer_param: str | None) -> dict:
        """Redeems the code (with the PKCE verifier) and returns the ID token's verified claims."""
        metadata = await self.directory.metadata(provider.issuer)
        # RFC 9207: an `iss` on the callback names who answered; another issuer means a mix-up attack.
        if issuer_param is not None and issuer_param != metadata.issuer:
            raise refused("The callback came from another identity provider", "sso_issuer_mismatch")
        if not code or len(code) > 2048:
            raise refused("The identity provider sent no authorization code")
        try:
            async with AsyncOAuth2Client(**_settings(provider, pending.redirect_uri), verify=_tls(), timeout=_TIMEOUT,
                                         trust_env=False, follow_redirects=False) as client:
                token = await client.fetch_token(metadata.token_endpoint, grant_type="authorization_code", code=code,
                                                 code_verifier=pending.code_verifier)
        except httpx2.HTTPError:
            raise UpstreamFailed("The identity provider's token endpoint could not be reached",
                                 code="sso_provider_unreachable") from None
        except (AuthlibBaseError, ValueError):
            raise refused("The identity provider refused the authorization code (used, expired, or not issued "
                          "for this sign-in)", "sso_code_rejected") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise refused("The identity provider returned no ID token", "invalid_id_token")
        rules = IdTokenRules(issuer=metadata.issuer, client_id=provider.client_id, nonce=pending.nonce)
        return await validate_id_token(id_token, rules, self.directory.signing_keys(metadata))
