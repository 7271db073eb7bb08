"""Server-sent events off an upstream response: whole events as bytes arrive, for every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx


async def sse_events(response: httpx.Response) -> AsyncIterator[bytes]:
    """Whole events (`...\\n\\n`) as they arrive, `\\r\\n` line endings normalised to `\\n`."""
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
            if buffer.endswith(b"\r"):  # the rest of a \r\n pair is still on its way
                continue
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            yield buffer[start : end + 2]
            start = end + 2
        buffer = buffer[start:]
    if buffer.strip():
        yield buffer.strip(b"\r\n") + b"\n\n"


def data_of(event: bytes) -> bytes | None:
    """The joined `data:` lines of one event; None for events without data (comments, pings)."""
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None
