"""Who and what a request is, for everything downstream of the ASGI entry: its id and the client's IP.

`RequestContextMiddleware` takes the caller's `x-request-id` when it is a sane token (else makes one),
sets both context variables and echoes `x-request-id` on the response. Logs, audit events, usage rows
and error bodies read the id from here, so one id follows a request through every record it leaves.
Its `on_end(scope, status, seconds)` (the access log, app/lib/logs.log_access) runs once the answer is out:
one wrapper around `send` for both, since a stream passes every chunk through it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_request_id: ContextVar[str | None] = ContextVar("alchemi_request_id", default=None)
_client_ip: ContextVar[str | None] = ContextVar("alchemi_client_ip", default=None)
_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{8,64}")


def new_request_id() -> str:
    return os.urandom(16).hex()


def request_id() -> str | None:
    return _request_id.get()


def client_ip() -> str | None:
    return _client_ip.get()


def set_request(request_id_value: str | None, ip: str | None = None) -> None:
    """For code that runs outside an HTTP request (jobs): name the request it works for."""
    _request_id.set(request_id_value)
    _client_ip.set(ip)


class RequestContextMiddleware:
    def __init__(self, app: Any, on_end: Callable[[dict, int, float], None] | None = None) -> None:
        self.app = app
        self.on_end = on_end

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ident = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _SANE_ID.fullmatch(value):
                    ident = value.decode()
                break
        ident = ident or new_request_id()
        client = scope.get("client")
        _request_id.set(ident)
        _client_ip.set(client[0] if client else None)
        header = (b"x-request-id", ident.encode())
        status = 500  # what the client sees when the app fails before it answers

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                headers = list(headers) if headers else []
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.on_end is not None:
                self.on_end(scope, status, time.perf_counter() - started)
