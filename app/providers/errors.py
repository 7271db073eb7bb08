"""Upstream failures turned into the gateway's errors; shared by every adapter."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec

from app.lib.errors import GatewayError, InvalidRequest, RateLimited, UpstreamFailed, UpstreamTimeout
from app.lib.logs import redact
from app.providers.base import Deployment


class _VendorError(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class _VendorErrorEnvelope(msgspec.Struct):
    error: _VendorError | str | None = None


def vendor_message(body: bytes) -> tuple[str | None, str | None, str | None]:
    """message, param, code from an OpenAI-shaped error body, when it is one."""
    try:
        envelope = msgspec.json.decode(body, type=_VendorErrorEnvelope)
    except msgspec.DecodeError:
        return None, None, None
    error = envelope.error
    if isinstance(error, str):
        return error, None, None
    if error is None:
        return None, None, None
    return error.message, error.param, str(error.code) if error.code is not None else None


def _scrub(text: str, deployment: Deployment) -> str:
    for secret in (deployment.api_key, *deployment.secrets.values()):
        if secret:
            text = text.replace(secret, "[redacted]")
    return redact(text)[:2000]


_CONTEXT_WINDOW_HINTS = ("context_length_exceeded", "maximum context length", "context window", "prompt is too long",
                         "input is too long", "too many tokens", "exceeds the maximum number of tokens",
                         "exceed context limit")


def is_context_window_error(message: str | None, code: str | None) -> bool:
    text = f"{code or ''} {message or ''}".lower()
    return any(hint in text for hint in _CONTEXT_WINDOW_HINTS)


def upstream_error(status: int, body: bytes, deployment: Deployment, *, retry_after: str | None = None,
                   message: str | None = None) -> GatewayError:
    """The caller's own mistakes (400, 404, 413, 422) pass through; the rest is the gateway's problem.

    `message` overrides the OpenAI-shaped parsing for vendors whose error bodies look different.
    A prompt too long for the model gets code `context_length_exceeded` (routing may fall back).
    """
    parsed_message, param, code = vendor_message(body)
    message = message or parsed_message
    label = f"{deployment.provider} upstream for '{deployment.model_name}'"
    if status in (400, 404, 413, 422):
        if is_context_window_error(message, code):
            code = "context_length_exceeded"
        error = InvalidRequest(_scrub(message or f"{label} rejected the request", deployment), param=param, code=code)
        error.status = status
        return error
    if status == 429:
        headers = {"Retry-After": retry_after} if retry_after else {"Retry-After": "1"}
        return RateLimited(f"{label} is rate limiting requests", code="upstream_rate_limited", headers=headers)
    if status in (401, 403):
        # Never forward these: the message would be about the gateway's credentials, not the caller's.
        return UpstreamFailed(f"{label} refused the gateway's credentials", code="upstream_auth_failed")
    return UpstreamFailed(f"{label} failed with status {status}", code="upstream_error")


def transport_error(exc: httpx.HTTPError, deployment: Deployment) -> GatewayError:
    label = f"{deployment.provider} upstream for '{deployment.model_name}'"
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{label} timed out", code="upstream_timeout")
    return UpstreamFailed(f"{label} could not be reached", code="upstream_unreachable")


ErrorOf = Callable[[httpx.Response, bytes, Deployment], GatewayError]


def _default_error(response: httpx.Response, content: bytes, deployment: Deployment) -> GatewayError:
    return upstream_error(response.status_code, content, deployment, retry_after=response.headers.get("retry-after"))


async def send_checked(client: httpx.AsyncClient, request: httpx.Request, deployment: Deployment, *,
                       stream: bool = False, auth: httpx.Auth | None = None,
                       error_of: ErrorOf = _default_error) -> httpx.Response:
    """Send to the upstream; a transport failure or an error answer (read, then closed) becomes the
    gateway's error. For `stream=True` the caller reads the good response and must close it."""
    try:
        response = await client.send(request, stream=stream, auth=auth)
        if response.status_code >= 400:
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise error_of(response, content, deployment)
    except httpx.HTTPError as exc:
        raise transport_error(exc, deployment) from None
    return response
