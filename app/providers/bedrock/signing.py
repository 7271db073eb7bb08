"""AWS Signature Version 4 as an `httpx.Auth`: every Bedrock request is signed just before it is sent.

Implemented from AWS's "Create a signed AWS API request" steps: canonical request, string to sign,
the HMAC-SHA256 key chain date → region → service → "aws4_request", then the Authorization header.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx
import msgspec

ALGORITHM = "AWS4-HMAC-SHA256"


class AwsCredentials(msgspec.Struct, frozen=True):
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never let a secret reach a log line through a repr
        return "AwsCredentials([redacted])"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _canonical_uri(url: httpx.URL) -> str:
    # Services other than S3 sign the path as sent, URI-encoded once more (so `%3A` is signed as `%253A`).
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return quote(path, safe="/~")


def _canonical_query(url: httpx.URL) -> str:
    pairs = []
    for item in url.query.decode("ascii").split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_request(method: str, url: httpx.URL, headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """The canonical request over `headers` (all of them signed) and its SignedHeaders list."""
    canonical = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    names = sorted(canonical)
    signed_headers = ";".join(names)
    header_block = "".join(f"{name}:{canonical[name]}\n" for name in names)
    text = "\n".join((method.upper(), _canonical_uri(url), _canonical_query(url), header_block, signed_headers,
                      payload_hash))
    return text, signed_headers


def authorization(credentials: AwsCredentials, region: str, service: str, method: str, url: httpx.URL,
                  headers: Mapping[str, str], payload_hash: str, amz_date: str) -> str:
    """The Authorization header value; `headers` are the ones to sign and must hold host and x-amz-date."""
    canonical, signed_headers = canonical_request(method, url, headers, payload_hash)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    signature = hmac.new(signing_key(credentials.secret_access_key, date, region, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    return (f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed_headers}, "
            f"Signature={signature}")


class SigV4Auth(httpx.Auth):
    requires_request_body = True

    def __init__(self, credentials: AwsCredentials, region: str, service: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        amz_date = self._clock().strftime("%Y%m%dT%H%M%SZ")
        payload_hash = hashlib.sha256(request.content).hexdigest()
        signed = {"host": request.headers["host"], "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
        if self.credentials.session_token:
            signed["x-amz-security-token"] = self.credentials.session_token
        request.headers.update(signed)
        request.headers["authorization"] = authorization(self.credentials, self.region, self.service, request.method,
                                                         request.url, signed, payload_hash, amz_date)
        yield request
