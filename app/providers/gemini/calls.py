"""Sending one request to a Google generative API and turning its failures into gateway errors.

Shared by gemini/ (API key) and vertex_ai/ (OAuth): the URL, headers and `httpx.Auth` come from the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import httpx
import msgspec

from app.lib.errors import GatewayError
from app.providers.base import Deployment, request_timeout
from app.providers.errors import send_checked, upstream_error

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_VERSION_SEGMENT = re.compile(r"v\d+((alpha|beta)\d*)?")
# Google answers a bad API key with 400 INVALID_ARGUMENT: it is still the gateway's credential, not the caller's.
_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED", "CREDENTIALS_MISSING"})
_CREDENTIAL_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


class _Detail(msgspec.Struct, rename="camel"):
    reason: str | None = None  # google.rpc.ErrorInfo
    retry_delay: str | None = None  # google.rpc.RetryInfo, e.g. "37s": Google's Retry-After


class _GoogleError(msgspec.Struct):
    message: str | None = None
    status: str | None = None  # Google: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...
    type: str | None = None  # Anthropic on Vertex: invalid_request_error, overloaded_error, ...
    details: list[_Detail] = []


class _GoogleErrorEnvelope(msgspec.Struct):
    error: _GoogleError | None = None


def google_error(status: int, content: bytes, deployment: Deployment, *, retry_after: str | None = None) -> GatewayError:
    """`{"error":{"code","message","status"}}` (or Anthropic's `{"error":{"type","message"}}`) → gateway error."""
    try:
        error = msgspec.json.decode(content, type=_GoogleErrorEnvelope).error
    except msgspec.DecodeError:
        error = None
    if error is None:
        return upstream_error(status, content, deployment, retry_after=retry_after)
    if error.status in _CREDENTIAL_STATUSES or any(detail.reason in _CREDENTIAL_REASONS for detail in error.details):
        status = 401
    if retry_after is None:
        delays = [detail.retry_delay for detail in error.details if detail.retry_delay]
        if delays and delays[0].endswith("s"):
            try:
                retry_after = str(math.ceil(float(delays[0][:-1])))
            except ValueError:
                pass
    code = (error.status or error.type or "").lower() or None
    # Re-said in OpenAI's shape so the shared mapping reads the vendor's code, not the HTTP number.
    openai_shaped = _encode({"error": {"message": error.message, "type": None, "param": None, "code": code}})
    return upstream_error(status, openai_shaped, deployment, retry_after=retry_after)


@lru_cache(maxsize=4096)
def versioned_base(base: str, version: str) -> str:
    """`base` with the API version appended, unless its path already ends in one (`.../v1beta`)."""
    base = base.rstrip("/")
    last = httpx.URL(base).path.rsplit("/", 1)[-1]
    return base if _VERSION_SEGMENT.fullmatch(last) else f"{base}/{version}"


def decoded(decode: Callable[[bytes], T], content: bytes, deployment: Deployment) -> T:
    """A 200 whose body is not the vendor's shape is the upstream's failure, not ours."""
    try:
        return decode(content)
    except msgspec.DecodeError:
        raise upstream_error(502, b"", deployment) from None


def _request(client: httpx.AsyncClient, deployment: Deployment, url: httpx.URL, payload: dict[str, Any],
             headers: dict[str, str], *, stream: bool = False) -> httpx.Request:
    return client.build_request("POST", url, content=_encode(payload),
                                headers={"content-type": "application/json", **headers},
                                timeout=request_timeout(client, deployment, stream=stream))


async def post(client: httpx.AsyncClient, deployment: Deployment, url: httpx.URL, payload: dict[str, Any], *,
               headers: dict[str, str], auth: httpx.Auth | None = None) -> bytes:
    request = _request(client, deployment, url, payload, headers)
    return (await send_checked(client, request, deployment, auth=auth, error_of=_google_error_of)).content


async def open_stream(client: httpx.AsyncClient, deployment: Deployment, url: httpx.URL, payload: dict[str, Any], *,
                      headers: dict[str, str], auth: httpx.Auth | None = None) -> httpx.Response:
    """The upstream response, open and unread: the caller streams it and must close it."""
    request = _request(client, deployment, url, payload, headers, stream=True)
    return await send_checked(client, request, deployment, stream=True, auth=auth, error_of=_google_error_of)


def _google_error_of(response: httpx.Response, content: bytes, deployment: Deployment):
    return google_error(response.status_code, content, deployment, retry_after=response.headers.get("retry-after"))
