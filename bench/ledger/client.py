"""An exact-count load client: N chat requests over C keep-alive connections, every answer's status
and x-request-id kept.

wrk cannot do this: it stops on answers, not on requests sent, so up to C-1 more requests reach the
gateway than it reports, and it does not hand back response headers cheaply. This client sends
request i exactly once (a request whose connection broke is counted as a transport error, never
re-sent), so "requests sent" is exact and the ledger can be compared id by id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools


@dataclass
class Answer:
    index: int
    status: int
    request_id: str | None


@dataclass
class LoadOutcome:
    sent: int
    answers: list[Answer]
    transport_errors: list[str] = field(default_factory=list)
    started: float = 0.0  # time.monotonic()
    ended: float = 0.0  # when the last answer was read

    @property
    def ok(self) -> list[Answer]:
        return [a for a in self.answers if 200 <= a.status < 300]

    @property
    def duration_s(self) -> float:
        return self.ended - self.started


class _Reply:
    """httptools callbacks for one response: the body is read to the end but not kept."""

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-request-id":
            self.request_id = value.decode()

    def on_message_complete(self) -> None:
        self.complete = True


def request_bytes(host: str, port: int, path: str, token: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def send_exactly(host: str, port: int, requests: Callable[[int], bytes], total: int, concurrency: int,
                       *, timeout_s: float = 60.0) -> LoadOutcome:
    """Send requests(0) … requests(total - 1), each once, from `concurrency` connections."""
    outcome = LoadOutcome(sent=0, answers=[])
    next_index = iter(range(total))

    async def connection() -> None:
        reader = writer = None
        try:
            for index in next_index:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                outcome.sent += 1
                try:
                    writer.write(requests(index))
                    reply, keep_alive = await asyncio.wait_for(_read_reply(reader, index), timeout_s)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, httptools.HttpParserError) as exc:
                    outcome.transport_errors.append(f"request {index}: {type(exc).__name__}: {exc}")
                    writer.close()
                    reader = writer = None
                    continue
                outcome.answers.append(reply)
                outcome.ended = time.monotonic()
                if not keep_alive:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    outcome.started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return outcome


async def _read_reply(reader: asyncio.StreamReader, index: int) -> tuple[Answer, bool]:
    reply = _Reply()
    parser = httptools.HttpResponseParser(reply)
    while not reply.complete:
        data = await reader.read(65536)
        if not data:
            raise asyncio.IncompleteReadError(b"", None)
        parser.feed_data(data)
    return Answer(index, parser.get_status_code(), reply.request_id), parser.should_keep_alive()
