"""One HTTP call to a server on 127.0.0.1, for readiness checks, set-up calls and answer checks.

Proxy environment variables are ignored on purpose: every target is local.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method: str, url: str, *, body: dict | bytes | None = None, headers: dict[str, str] | None = None,
         timeout_s: float = 30.0) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP error statuses are returned, connection failures raise OSError."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _opener.open(request, timeout=timeout_s) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
