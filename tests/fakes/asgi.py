"""The bare-ASGI plumbing every fake vendor shares: reading a request, answering JSON, noticing a client leave."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class Recorded:
    method: str
    path: str  # decoded, as the vendor's router sees it
    raw_path: bytes  # as sent on the wire (percent-encoding kept)
    query: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any


async def read_body(receive) -> bytes:
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw


def headers_of(scope) -> dict[str, str]:
    """The request headers, names lower-cased."""
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


def json_or_none(raw: bytes) -> Any:
    """The body as JSON; None when it is empty or not JSON (each fake answers that in its vendor's words)."""
    try:
        return _decode(raw) if raw else None
    except msgspec.DecodeError:
        return None


async def read_request(scope, receive) -> Recorded:
    raw = await read_body(receive)
    return Recorded(scope["method"], scope["path"], scope.get("raw_path") or scope["path"].encode(),
                    scope.get("query_string", b"").decode(), headers_of(scope), raw, json_or_none(raw))


def replay(raw: bytes, receive):
    """A `receive` that hands an inner app `raw` as the whole body, then passes on what the client sends."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replayed


async def send_json(send, status: int, payload: Any, headers: dict[str, str] | None = None, *,
                    content_type: str = "application/json") -> None:
    data = payload if isinstance(payload, bytes) else _encode(payload)
    raw_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})


async def lifespan(scope, receive, send) -> bool:
    """Answer uvicorn's lifespan protocol; True when `scope` was a lifespan scope."""
    if scope["type"] != "lifespan":
        return False
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return True


class DisconnectWatch:
    """Notices the client leaving mid-stream: uvicorn drops writes to a closed connection silently.

    Started once the stream is open (it takes over `receive`); `stop()` it when the stream ends.
    """

    def __init__(self, receive) -> None:
        self.disconnected = asyncio.Event()
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()

    def raise_if_gone(self) -> None:
        if self.disconnected.is_set():
            raise OSError("client disconnected")

    def stop(self) -> None:
        self._watcher.cancel()
