"""The gateway's one error hierarchy, and the one place that turns it into an HTTP answer.

    GatewayError                      status  type
     ├── InvalidRequest                 400   invalid_request_error
     │    └── PayloadTooLarge           413   invalid_request_error
     ├── BudgetExceeded                 400   budget_exceeded
     ├── AuthenticationFailed           401   authentication_error
     ├── PermissionDenied               403   permission_error
     ├── NotFound                       404   not_found_error
     │    └── ModelNotFound             404   not_found_error (code model_not_found)
     ├── Conflict                       409   invalid_request_error
     ├── RateLimited                    429   rate_limit_error (+ Retry-After)
     ├── UpstreamFailed                 502   api_error (or the upstream's own 4xx)
     ├── UpstreamTimeout                504   timeout_error
     └── ServiceUnavailable             503   api_error

Every answer carries the OpenAI shape `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import logging

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("alchemi.errors")


class ErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> ErrorEnvelope:
        return ErrorEnvelope(ErrorBody(self.message, self.type, self.param, self.code))


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class BudgetExceeded(GatewayError):
    status = 400
    type = "budget_exceeded"
    code = "budget_exceeded"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"


class UpstreamFailed(GatewayError):
    status = 502
    type = "api_error"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "api_error"


def error_response(error: GatewayError) -> Response[ErrorEnvelope]:
    return Response(error.body(), status_code=error.status, headers=error.headers)


def _gateway_error_handler(_: Request, exc: GatewayError) -> Response[ErrorEnvelope]:
    return error_response(exc)


def _framework_error(status: int, message: str) -> GatewayError:
    kinds: dict[int, type[GatewayError]] = {
        400: InvalidRequest, 401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound,
        413: PayloadTooLarge, 429: RateLimited,
    }
    kind = kinds.get(status)
    if kind is None:
        error = InvalidRequest(message, status=status) if 400 <= status < 500 else GatewayError(message, status=status)
    else:
        error = kind(message)
    return error


def _validation_handler(_: Request, exc: ValidationException) -> Response[ErrorEnvelope]:
    message = exc.detail or "Invalid request"
    param = None
    if isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict):
            param = first.get("key")
            message = f"{message}: {first.get('message', '')}".rstrip(": ")
    if "JSON" in message or "json" in message:
        message = "The request body is not valid JSON"
    return error_response(InvalidRequest(message, param=param))


def _http_exception_handler(_: Request, exc: HTTPException) -> Response[ErrorEnvelope]:
    status = exc.status_code
    message = exc.detail or "Error"
    if status == 413:
        message = "The request body is larger than this gateway accepts"
    return error_response(_framework_error(status, message))


def _unexpected_handler(request: Request, exc: Exception) -> Response[ErrorEnvelope]:
    # Never echo the exception text: it may hold upstream bodies or credentials.
    log.exception("unhandled error", extra={"path": request.url.path})
    return Response(
        ErrorEnvelope(ErrorBody("Internal server error", "api_error", None, "internal_error")),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {
    GatewayError: _gateway_error_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_exception_handler,
    Exception: _unexpected_handler,
}
