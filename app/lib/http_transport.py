"""A lean HTTP/1.1 keep-alive transport for the shared httpx client.

httpx's default pool (httpcore) polls every pooled socket for readability on every request
and runs each read through several abstraction layers; on the relay path of a gateway that
is most of the CPU a request costs. This transport keeps httpx's client API (requests,
responses, timeouts, exceptions) and does the wire work with an asyncio Protocol and the
httptools parser uvicorn already uses:

- one idle stack of connections per origin, LIFO, dropped after `keepalive_expiry`;
- a connection the server closed is noticed by the event loop (`connection_lost`), not polled;
- response bodies are handed over chunk by chunk as they arrive (streams stay streams);
- a response that is not read to the end closes its connection (that is how a dropped
  client cancels the upstream call).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

_READ_HIGH_WATER = 1 << 20  # pause the socket when this much body is waiting for the reader


class _Connection(asyncio.Protocol):
    def __init__(self, origin: tuple[bytes, str, int]) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.received_any = False
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future | None = None
        self._error: Exception | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("unexpected protocol upgrade from upstream"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response from upstream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            if self.headers_done:
                self._fail(httpx.RemoteProtocolError("upstream closed the connection mid-response"))
            else:
                self._fail(httpx.RemoteProtocolError("upstream closed the connection without a response"))
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # used by the transport
    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._wake()
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float | None, on_timeout: type[httpx.TimeoutException], request: httpx.Request) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, waiter.cancel) if timeout is not None else None
        try:
            await waiter
        except asyncio.CancelledError:
            if timer is not None and waiter.cancelled() and not _current_task_cancelling():
                self.close()
                raise on_timeout("upstream did not answer in time", request=request) from None
            self.close()
            raise
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    async def send(self, head: bytes, body: bytes) -> None:
        self._reset()
        if self.closed or self.transport is None or self.transport.is_closing():
            raise httpx.RemoteProtocolError("upstream closed the connection without a response")
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def read_headers(self, timeout: float | None, request: httpx.Request) -> None:
        while not self.headers_done:
            self.raise_error()
            await self._wait(timeout, httpx.ReadTimeout, request)

    async def read_body(self, timeout: float | None, request: httpx.Request) -> AsyncIterator[bytes]:
        while True:
            if self._body:
                chunk = self._body.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _READ_HIGH_WATER // 2 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
                continue
            if self.complete:
                return
            self.raise_error()
            await self._wait(timeout, httpx.ReadTimeout, request)

    def reusable(self) -> bool:
        return self.complete and not self.closed and self._parser.should_keep_alive()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, transport: "LeanTransport", connection: _Connection, request: httpx.Request,
                 read_timeout: float | None) -> None:
        self._transport = transport
        self._connection = connection
        self._request = request
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.read_body(self._read_timeout, self._request):
                yield chunk
        except BaseException:
            self._connection.close()
            raise

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        self._transport._release(self._connection)


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[bytes, str, int], list[_Connection]] = {}
        self._slots = asyncio.Semaphore(limits.max_connections or 10_000)
        self._max_idle = limits.max_keepalive_connections or 100
        self._keepalive_expiry = limits.keepalive_expiry or 5.0
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._open: set[_Connection] = set()

    async def _connect(self, origin: tuple[bytes, str, int], timeout: float | None, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(origin)
        tls = self._ssl_context if scheme == b"https" else None
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: connection, host, port, ssl=tls,
                                       server_hostname=host if tls else None),
                timeout,
            )
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}", request=request) from None
        self._open.add(connection)
        return connection

    def _idle_connection(self, origin: tuple[bytes, str, int]) -> _Connection | None:
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack:
            connection = stack.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive_expiry:
                return connection
            self._discard(connection)
        return None

    def _release(self, connection: _Connection) -> None:
        self._slots.release()
        if not connection.reusable():
            self._discard(connection)
            return
        stack = self._idle.setdefault(connection.origin, [])
        if len(stack) >= self._max_idle:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        stack.append(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.host, url.port or (443 if url.raw_scheme == b"https" else 80))
        body = request.content if isinstance(request.stream, httpx.ByteStream) else b"".join(
            [chunk async for chunk in request.stream])  # type: ignore[union-attr]
        head = _request_head(request, len(body))

        try:
            await asyncio.wait_for(self._slots.acquire(), timeouts.get("pool"))
        except asyncio.TimeoutError:
            raise httpx.PoolTimeout("no free upstream connection slot", request=request) from None
        try:
            response = await self._exchange(origin, head, body, timeouts, request)
        except BaseException:
            self._slots.release()
            raise
        return response

    async def _exchange(self, origin, head: bytes, body: bytes, timeouts: dict, request: httpx.Request) -> httpx.Response:
        for attempt in (0, 1):
            connection = self._idle_connection(origin)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin, timeouts.get("connect"), request)
            try:
                await connection.send(head, body)
                await connection.read_headers(timeouts.get("read"), request)
            except httpx.RemoteProtocolError:
                self._discard(connection)
                # The classic keep-alive race: the server closed an idle connection as we reused it.
                if reused and attempt == 0 and not connection.received_any:
                    continue
                raise
            except BaseException:
                self._discard(connection)
                raise
            stream = _ResponseStream(self, connection, request, timeouts.get("read"))
            return httpx.Response(connection.status, headers=connection.headers, stream=stream,
                                  extensions={"http_version": b"HTTP/1.1"})
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()


def _request_head(request: httpx.Request, length: int) -> bytes:
    lines = [request.method.encode() + b" " + request.url.raw_path + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"transfer-encoding":
            continue  # the body is always sent whole, with a length
        if lower == b"content-length":
            has_length = True
            value = str(length).encode()
        lines.append(name + b": " + value)
    if not has_length and (length or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: " + str(length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"
