"""What every /v1 controller shares around its one service call: a request id that can be the ledger's
identity, error answers counted once in `alchemi_request_errors_total`, and no INFO access line.

Request ids: the ledger's `request_id` is unique, and the limiter tracks requests in flight by it, so a
client's own `x-request-id` (which a client may reuse) cannot be it. On the data plane a client's id
becomes `<client id>.<8 random hex>`: the answer's `x-request-id`, the usage row and the log lines carry
that, and it still starts with what the client sent. Without one, the id made by
app/lib/request_context.py is used as it is.
"""

from __future__ import annotations

import os

from litestar import Request, Response

from app.lib import request_context
from app.lib.errors import EXCEPTION_HANDLERS, GatewayError, error_response
from app.lib.metrics import count_error

_ID_ROOM = 64 - 9  # usage_ledger.request_id is varchar(64)
# Per-request volume belongs to metrics, not to the log (app/lib/logs.log_access).
QUIET = {"access_log": False}


async def unique_request_id(request: Request) -> None:
    """before_request: a client-chosen id is made unique (see the module docstring)."""
    sent = request.headers.get("x-request-id")
    if sent is not None and sent == request_context.request_id():
        request_context.set_request(f"{sent[:_ID_ROOM]}.{os.urandom(4).hex()}", request_context.client_ip())


def counted(exc: GatewayError) -> GatewayError:
    """Count an error answer that no gateway call counted (refused before routing: key, body, guardrails),
    and name the request on it; errors out of a call carry its request id and were counted there."""
    if "x-request-id" not in exc.headers:
        count_error("", "", exc.type, exc.code)
        exc.headers["x-request-id"] = request_context.request_id() or ""
    return exc


def _gateway_error(_: Request, exc: GatewayError) -> Response:
    return error_response(counted(exc))


def _unexpected(request: Request, exc: Exception) -> Response:
    count_error("", "", "api_error", "internal_error")
    return EXCEPTION_HANDLERS[Exception](request, exc)


ERROR_HANDLERS = {GatewayError: _gateway_error, Exception: _unexpected}
