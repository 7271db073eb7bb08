"""Error bodies in Anthropic's shape, for `/v1/messages`: the Anthropic SDKs pick their exception class
from the HTTP status and show `error.type` and `error.message`, so both follow Anthropic's table."""

from __future__ import annotations

from typing import Any

# Anthropic's documented status → error.type (https://docs.claude.com/en/api/errors).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    # Anthropic: "We may also use invalid_request_error for other 4XX status codes not listed".
    return _TYPES.get(status) or ("invalid_request_error" if 400 <= status < 500 else "api_error")


def anthropic_error_body(status: int, message: str, *, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body
