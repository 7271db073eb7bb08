"""Relaying an upstream chat stream to the client event by event, and noticing its usage on the way."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import msgspec

from app.providers.base import ChatStream, Usage

log = logging.getLogger("alchemi.streaming")


class _ChunkProbe(msgspec.Struct):
    choices: list[msgspec.Raw] = []
    usage: Usage | None = None


_probe = msgspec.json.Decoder(_ChunkProbe).decode
_STREAM_ERROR = (
    b'data: {"error":{"message":"The upstream stream failed before it finished","type":"api_error",'
    b'"param":null,"code":"upstream_stream_error"}}\n\n'
)

StreamEnd = Callable[[Usage | None, int, str], None]


async def relay(stream: ChatStream, *, strip_usage: bool, on_end: StreamEnd) -> AsyncIterator[bytes]:
    """Yield each event as it arrives; `on_end(usage, content_chunks, status)` runs exactly once.

    The usage-only chunk (empty `choices`) is dropped when the client did not ask for it.
    `status` is success, error, or client_disconnected (the consumer stopped or was cancelled).
    """
    usage: Usage | None = None
    chunks = 0
    status = "client_disconnected"
    try:
        async for event in stream.events():
            if event.startswith(b"data: {"):
                # Most chunks carry `"usage":null`; only decode the ones that may hold numbers.
                if b'"usage"' in event and b'"usage":null' not in event:
                    try:
                        probe = _probe(event[6:])
                    except msgspec.DecodeError:
                        probe = None
                    if probe is not None and probe.usage is not None:
                        usage = probe.usage
                        if not probe.choices:
                            if strip_usage:
                                continue
                            yield event
                            continue
                chunks += 1
            yield event
        status = "success"
    except httpx.HTTPError as exc:
        status = "error"
        log.warning("upstream stream broke", extra={"error": type(exc).__name__})
        yield _STREAM_ERROR
    finally:
        on_end(usage, chunks, status)
        with anyio.CancelScope(shield=True):
            await stream.aclose()
