"""Google service-account auth as an `httpx.Auth`: a signed JWT assertion exchanged for a cached access token.

The token request runs inside the auth flow on the same client as the call it authorises, so it
shares its timeout and transport. One `ServiceAccountAuth` per credentials keeps the token until
shortly before it expires; concurrent calls wait for one exchange instead of each making their own.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Generator
from functools import lru_cache

import httpx
import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is replaced

_encode = msgspec.json.Encoder().encode


class ServiceAccount(msgspec.Struct, frozen=True):
    client_email: str
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"
    private_key_id: str | None = None
    project_id: str | None = None
    type: str | None = None

    def __repr__(self) -> str:  # the private key must never reach a log line through a repr
        return f"ServiceAccount(client_email={self.client_email!r})"


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: int = 3600
    token_type: str = "Bearer"


class CredentialsInvalid(Exception):
    """The credentials could not be read (not JSON, no key): a deployment configuration problem."""


class TokenRefused(Exception):
    """The token endpoint did not hand out a token; `status` says how it answered."""

    def __init__(self, status: int) -> None:
        super().__init__(f"token endpoint answered {status}")
        self.status = status


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class ServiceAccountAuth(httpx.Auth):
    def __init__(self, account: ServiceAccount) -> None:
        self.account = account
        try:
            key = serialization.load_pem_private_key(account.private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise CredentialsInvalid("the service account's private_key is not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CredentialsInvalid("the service account's private_key is not an RSA key")
        self._key = key
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def assertion(self, now: float | None = None) -> str:
        """The RS256-signed JWT Google's token endpoint exchanges for an access token."""
        issued = int(now if now is not None else time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        if self.account.private_key_id:
            header["kid"] = self.account.private_key_id
        claims = {"iss": self.account.client_email, "scope": SCOPE, "aud": self.account.token_uri,
                  "iat": issued, "exp": issued + ASSERTION_LIFETIME}
        signing_input = _b64url(_encode(header)) + b"." + _b64url(_encode(claims))
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64url(signature)).decode()

    def _fresh(self) -> bool:
        return self._token is not None and time.monotonic() < self._refresh_at

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request("POST", self.account.token_uri,
                             data={"grant_type": GRANT_TYPE, "assertion": self.assertion()},
                             extensions={"timeout": request.extensions.get("timeout", {})})

    def _store(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            # 400 invalid_grant / 401 invalid_client are about the gateway's credentials, never the caller's.
            raise TokenRefused(401 if response.status_code in (400, 401, 403) else response.status_code)
        try:
            token = msgspec.json.decode(response.content, type=_TokenResponse)
        except msgspec.DecodeError:
            raise TokenRefused(502) from None
        self._token = token.access_token
        self._refresh_at = time.monotonic() + token.expires_in - min(_REFRESH_MARGIN, token.expires_in / 10)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ServiceAccountAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    response = yield self._token_request(request)
                    await response.aread()
                    self._store(response)
        request.headers["authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._token = None  # revoked or expired early: the next call fetches a new one


@lru_cache(maxsize=1024)
def auth_for(credentials: str) -> ServiceAccountAuth:
    """One auth (and so one cached token) per service-account JSON."""
    try:
        account = msgspec.json.decode(credentials, type=ServiceAccount)
    except msgspec.DecodeError:
        raise CredentialsInvalid("vertex_credentials is not a service-account JSON") from None
    return ServiceAccountAuth(account)
