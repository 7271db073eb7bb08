"""Relaying an upstream chat stream to the client event by event, and noticing its usage on the way."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

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
# Content chunks kept in case the upstream never reports usage (then the gateway counts tokens).
_CAPTURE_LIMIT = 4 * 1024 * 1024

StreamEnd = Callable[[Usage | None, list[bytes], str], Awaitable[None]]
FirstChunk = Callable[[], None]


async def relay(stream: ChatStream, *, strip_usage: bool, on_end: StreamEnd,
                on_first_chunk: FirstChunk | None = None) -> AsyncIterator[bytes]:
    """Yield each event as it arrives; `on_end(usage, content_events, status)` runs exactly once,
    before `data: [DONE]` is passed on when there is one (so a client that fires its next request
    on [DONE] finds its limits already settled). `on_first_chunk()` runs as the first content chunk
    (one with choices) is passed on: the time to first token.

    The usage-only chunk (empty `choices`) is dropped when the client did not ask for it.
    `status` is success, error, or client_disconnected (the consumer stopped or was cancelled).
    """
    usage: Usage | None = None
    captured: list[bytes] = []
    captured_bytes = 0
    ended = False

    async def finish(status: str) -> None:
        nonlocal ended
        if not ended:
            ended = True
            with anyio.CancelScope(shield=True):
                await on_end(usage, captured, status)

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
                            if not strip_usage:
                                yield event
                            continue
                if on_first_chunk is not None:
                    on_first_chunk()
                    on_first_chunk = None
                if captured_bytes < _CAPTURE_LIMIT:
                    captured.append(event)
                    captured_bytes += len(event)
            elif event.startswith(b"data: [DONE]"):
                await finish("success")
            yield event
        status = "success"
    except httpx.HTTPError as exc:
        status = "error"
        log.warning("upstream stream broke", extra={"error": type(exc).__name__})
        yield _STREAM_ERROR
    finally:
        await finish(status)
        with anyio.CancelScope(shield=True):
            await stream.aclose()


NativeEnd = Callable[[Usage | None, str], Awaitable[None]]


async def relay_native(stream: ChatStream, *, usage_of: Callable[[bytes], Usage | None],
                       on_end: NativeEnd, on_first_chunk: FirstChunk | None = None) -> AsyncIterator[bytes]:
    """Relay a vendor's own event stream unchanged (native /v1/responses, /v1/messages), noticing usage
    with `usage_of(event)` (or the stream's own `usage` once it ended); `on_end` runs exactly once;
    `on_first_chunk()` as the first `*delta` event (generated content) is passed on."""
    usage: Usage | None = None
    status = "client_disconnected"
    try:
        async for event in stream.events():
            if on_first_chunk is not None and b"delta" in event[:64]:
                on_first_chunk()
                on_first_chunk = None
            found = usage_of(event)
            if found is not None:
                usage = found
            yield event
        status = "success"
    except httpx.HTTPError as exc:
        status = "error"
        log.warning("upstream stream broke", extra={"error": type(exc).__name__})
    finally:
        usage = usage or getattr(stream, "usage", None)
        with anyio.CancelScope(shield=True):
            await on_end(usage, status)
            await stream.aclose()


async def translated(events: AsyncIterator[bytes], translator) -> AsyncIterator[bytes]:
    """Chat chunk events (from `relay`) turned into another dialect's events by a stream translator."""
    try:
        async for event in events:
            for out in translator.translate(event):
                yield out
        for out in translator.finish():
            yield out
    finally:
        await events.aclose()
