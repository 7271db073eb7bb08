"""Running a fake vendor (a bare ASGI app) on 127.0.0.1 in a background thread, and the bits every fake needs."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


@dataclass
class Recorded:
    method: str
    path: str  # decoded, as the vendor's router sees it
    raw_path: bytes  # as sent on the wire (percent-encoding kept)
    query: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any


async def read_request(scope, receive) -> Recorded:
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    try:
        body = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        body = None
    return Recorded(scope["method"], scope["path"], scope.get("raw_path") or scope["path"].encode(),
                    scope.get("query_string", b"").decode(), headers, raw, body)


async def send_json(send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    data = payload if isinstance(payload, bytes) else _encode(payload)
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
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


class ThreadedServer:
    """`with ThreadedServer(app, "name") as server: server.url` — a real HTTP server for the duration."""

    def __init__(self, app, name: str) -> None:
        self.app = app
        self.name = name
        self.port = 0
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False))
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
                while not self._server.started:
                    await asyncio.sleep(0.01)
                ready.set()
                await task

            loop.run_until_complete(serve())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.name} did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "ThreadedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
