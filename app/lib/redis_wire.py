"""A lean Redis client for the hot path: pipelined RESP over one connection, parsed by hiredis.

redis-py spends ~150 µs of CPU on one EVALSHA; the limiter sends one or two per limited request,
which was most of what budgets and rate limits cost the API process. This client does the same
call in ~40 µs: requests are written as they come (pipelined), replies are matched in order by a
single reader task. It only does what the limiter needs: run scripts (`evalsha` falling back to
`eval`), with the URL's password and database, and a timeout per call. Any connection trouble
fails the calls in flight with ConnectionError (an OSError) and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
from collections import deque

import hiredis
from redis.asyncio.connection import parse_url


class ScriptMissing(Exception):
    pass


def _pack(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class WireRedis:
    def __init__(self, url: str, *, timeout: float) -> None:
        self._options = parse_url(url)
        self._tls = url.startswith("rediss://")
        self._timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._waiting: deque[asyncio.Future] = deque()
        self._connecting: asyncio.Lock = asyncio.Lock()

    async def _connect(self) -> None:
        options = self._options
        connect_timeout = self._timeout
        if options.get("path"):
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(options["path"]), connect_timeout)
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                options.get("host", "localhost"), options.get("port", 6379),
                ssl=ssl.create_default_context() if self._tls else None), connect_timeout)
        self._writer = writer
        # A fresh context: the reader serves every request, not the one that happened to connect.
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader), context=contextvars.Context())
        if options.get("password"):
            auth = (options["username"], options["password"]) if options.get("username") else (options["password"],)
            await self._call(("AUTH", *auth))
        if options.get("db"):
            await self._call(("SELECT", options["db"]))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("Redis closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self._waiting.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (OSError, IndexError, hiredis.ProtocolError) as exc:
            self._reset(ConnectionError(f"Redis connection lost: {type(exc).__name__}"))

    def _reset(self, error: Exception) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
        self._reader_task = None

    async def _call(self, args: tuple):
        if self._writer is None:
            async with self._connecting:
                if self._writer is None:
                    try:
                        await self._connect()
                    except (OSError, asyncio.TimeoutError) as exc:
                        self._reset(ConnectionError(str(exc)))
                        raise ConnectionError(f"cannot reach Redis: {type(exc).__name__}") from None
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._writer.write(_pack(args))
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except asyncio.TimeoutError:
            # Replies would no longer match their calls: start over on a new connection.
            self._reset(ConnectionError("Redis did not answer in time"))
            raise ConnectionError("Redis did not answer in time") from None
        if isinstance(reply, hiredis.ReplyError):
            if str(reply).startswith("NOSCRIPT"):
                raise ScriptMissing(str(reply))
            raise ConnectionError(f"Redis refused the call: {str(reply)[:200]}")
        return reply

    async def run_script(self, sha: str, source: str, keys: list[str], args: list):
        """EVALSHA, sending the script itself only when this Redis does not know it yet."""
        try:
            return await self._call(("EVALSHA", sha, len(keys), *keys, *args))
        except ScriptMissing:
            return await self._call(("EVAL", source, len(keys), *keys, *args))

    async def aclose(self) -> None:
        self._reset(ConnectionError("client closed"))
