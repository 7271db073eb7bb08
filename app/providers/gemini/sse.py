"""Server-sent events off an upstream response, one `data:` payload at a time, as bytes arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx


def _payload(event: bytes) -> bytes | None:
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


async def sse_payloads(response: httpx.Response) -> AsyncIterator[bytes]:
    """The joined `data:` lines of each event; events without data (comments, pings) are skipped."""
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
            if buffer.endswith(b"\r"):  # the rest of a \r\n pair is still on its way
                continue
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            payload = _payload(buffer[start:end])
            if payload is not None:
                yield payload
            start = end + 2
        buffer = buffer[start:]
    if buffer.strip():
        payload = _payload(buffer.strip())
        if payload is not None:
            yield payload
