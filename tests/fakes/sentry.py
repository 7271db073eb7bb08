"""A fake Sentry ingest: a real HTTP server on 127.0.0.1 taking what sentry-sdk sends to a DSN's project —
`POST /api/<project>/envelope/` (envelopes, gzip or plain) and `POST /api/<project>/store/` (one event) —
and keeping every event, with the raw bytes as they arrived (to search for what must never be sent).

`FakeSentry().dsn` is the DSN to give a process (`SENTRY_DSN`)."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
import zlib
from typing import Any, Callable

import msgspec

from tests.fakes.asgi import headers_of, read_body, send_json
from tests.fakes.threaded_server import ThreadedServer

_decode = msgspec.json.Decoder().decode
PUBLIC_KEY = "f00dfeedf00dfeedf00dfeedf00dfeed"
PROJECT = "4242"


def _inflate(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    if encoding in ("", "identity"):
        return raw
    raise ValueError(f"unsupported content-encoding {encoding}")


def envelope_items(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """(item header, payload) pairs of an envelope: a header line, then items, each a header line and a
    payload of `length` bytes (or up to the next newline when the header gives no length)."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = _decode(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


class FakeSentryApp:
    def __init__(self, server: "FakeSentry") -> None:
        self.server = server

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        headers = headers_of(scope)
        path = scope["path"]
        auth = headers.get("x-sentry-auth", "") + scope.get("query_string", b"").decode()
        if PUBLIC_KEY not in auth:
            return await send_json(send, 401, {"detail": "missing authorization information"})
        body = _inflate(raw, headers.get("content-encoding", ""))
        if path == f"/api/{PROJECT}/envelope/":
            for header, payload in envelope_items(body):
                self.server.keep(header.get("type", ""), payload)
        elif path == f"/api/{PROJECT}/store/":
            self.server.keep("event", body)
        else:
            return await send_json(send, 404, {"detail": "unknown project"})
        await send_json(send, 200, {"id": uuid.uuid4().hex})


class FakeSentry(ThreadedServer):
    def __init__(self) -> None:
        super().__init__(FakeSentryApp(self), "sentry")
        self.events: list[dict[str, Any]] = []
        self.raw: list[bytes] = []  # every item payload received, events or not
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def keep(self, kind: str, payload: bytes) -> None:
        with self._lock:
            self.raw.append(payload)
            if kind == "event":
                self.events.append(_decode(payload))

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """The first event that `match`es, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [event for event in self.events if match(event)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no matching Sentry event in {timeout} s; got {len(self.events)} events")
