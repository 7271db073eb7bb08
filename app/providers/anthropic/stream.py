"""Anthropic's SSE stream, event by event: translated into OpenAI chunks, or relayed as it is.

Anthropic event order: message_start, then per content block content_block_start / _delta... / _stop,
then message_delta (stop reason, cumulative usage) and message_stop; `ping` may come anywhere and an
`error` event may end the stream early. A stream that fails or stops before `message_stop` raises
`httpx.RemoteProtocolError`, which is how the gateway's relay knows to send its stream error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import msgspec

from app.providers.anthropic.response import finish_reason, tool_call
from app.providers.anthropic.wire import (
    AnthropicUsage,
    ContentBlockDelta,
    ContentBlockStart,
    MessageDelta,
    MessageStart,
    decode_usage_only,
    error_of,
)
from app.providers.base import Usage
from app.providers.sse import sse_events

_encode = msgspec.json.Encoder().encode
_DONE = b"data: [DONE]\n\n"


raw_events = sse_events  # Anthropic's events, whole (`event:` and `data:` lines)


def parse_event(event: bytes) -> tuple[str, bytes]:
    """(event name, data) of one SSE event; Anthropic's data is one JSON line."""
    name, data = "", []
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
    return name, b"\n".join(data)


def _stream_failed(detail: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"Anthropic stream failed: {detail}")


def _error_type(data: bytes) -> str:
    error = error_of(data)
    return (error.type if error else None) or "error event"


_decode_start = msgspec.json.Decoder(MessageStart).decode
# The events that say something in OpenAI's terms; ping, content_block_stop and new event types do not.
_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "message_start": _decode_start,
    "content_block_start": msgspec.json.Decoder(ContentBlockStart).decode,
    "content_block_delta": msgspec.json.Decoder(ContentBlockDelta).decode,
    "message_delta": msgspec.json.Decoder(MessageDelta).decode,
    "message_stop": bytes,
}


class AnthropicChatStream:
    """Anthropic events → OpenAI `chat.completion.chunk` events, then one usage-only chunk and [DONE]."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._created = int(time.time())
        self._prefix = self._head("", "")  # message_start tells the real id and model
        self._suffix = b"]}\n\n"
        self._tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index
        self._usage = AnthropicUsage()
        self._stopped = False
        self._handlers: dict[str, Callable[[Any], Iterator[bytes]]] = {
            "message_start": self._on_message_start,
            "content_block_start": self._on_block_start,
            "content_block_delta": self._on_block_delta,
            "message_delta": self._on_message_delta,
            "message_stop": self._on_message_stop,
        }

    async def events(self) -> AsyncIterator[bytes]:
        async for event in raw_events(self._response):
            name, data = parse_event(event)
            if name == "error":
                raise _stream_failed(_error_type(data))
            decode = _DECODERS.get(name)
            if decode is None:
                continue
            try:
                payload = decode(data)
            except msgspec.DecodeError:
                raise _stream_failed(f"unreadable {name} event") from None
            for chunk in self._handlers[name](payload):
                yield chunk
        if not self._stopped:
            raise _stream_failed("the stream ended before message_stop")

    async def aclose(self) -> None:
        await self._response.aclose()

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._prefix + _encode(choice) + self._suffix

    def _head(self, message_id: str, model: str) -> bytes:
        """`data: {"id":...,"object":...,"created":...,"model":...,"choices":[`: shared by every chunk."""
        head = {"id": message_id, "object": "chat.completion.chunk", "created": self._created, "model": model}
        return b"data: " + _encode(head)[:-1] + b',"choices":['

    def _on_message_start(self, event: MessageStart) -> Iterator[bytes]:
        self._prefix = self._head(event.message.id, event.message.model)
        if event.message.usage is not None:
            self._usage = event.message.usage
        yield self._chunk({"role": "assistant", "content": ""})

    def _on_block_start(self, event: ContentBlockStart) -> Iterator[bytes]:
        block = event.content_block
        if block.type == "tool_use":
            index = self._tool_index[event.index] = len(self._tool_index)
            yield self._chunk({"tool_calls": [{"index": index, **tool_call(block.id, block.name, "")}]})
        elif block.type == "text" and block.text:
            yield self._chunk({"content": block.text})
        elif block.type == "thinking" and block.thinking:
            yield self._chunk({"reasoning_content": block.thinking})

    def _on_block_delta(self, event: ContentBlockDelta) -> Iterator[bytes]:
        delta = event.delta
        if delta.type == "text_delta" and delta.text:
            yield self._chunk({"content": delta.text})
        elif delta.type == "input_json_delta" and delta.partial_json and event.index in self._tool_index:
            piece = {"index": self._tool_index[event.index], "function": {"arguments": delta.partial_json}}
            yield self._chunk({"tool_calls": [piece]})
        elif delta.type == "thinking_delta" and delta.thinking:
            yield self._chunk({"reasoning_content": delta.thinking})

    def _on_message_delta(self, event: MessageDelta) -> Iterator[bytes]:
        if event.usage is not None:
            self._usage = self._usage.updated(event.usage)
        yield self._chunk({}, finish_reason(event.delta.stop_reason))

    def _on_message_stop(self, _: bytes) -> Iterator[bytes]:
        self._stopped = True
        usage = _encode({"choices": [], "usage": self._usage.as_openai()})
        yield self._prefix[:-len(b'"choices":[')] + usage[1:] + b"\n\n"
        yield _DONE


class AnthropicEventStream:
    """Anthropic's own events, relayed unchanged (native `/v1/messages`); `usage` is known once it ended."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._usage: AnthropicUsage | None = None
        self.error_type: str | None = None  # set when the vendor ended the stream with an `error` event

    @property
    def usage(self) -> Usage | None:
        return self._usage.as_openai() if self._usage is not None else None

    async def events(self) -> AsyncIterator[bytes]:
        stopped = False
        async for event in raw_events(self._response):
            if event.startswith((b"event: message_start", b"event: message_delta", b"event: error")):
                self._observe(*parse_event(event))
            elif event.startswith(b"event: message_stop"):
                stopped = True
            yield event
        if not stopped and self.error_type is None:
            raise _stream_failed("the stream ended before message_stop")

    def _observe(self, name: str, data: bytes) -> None:
        try:
            if name == "message_start":
                self._usage = _decode_start(data).message.usage
            elif name == "message_delta":
                later = decode_usage_only(data).usage
                if later is not None:
                    self._usage = (self._usage or AnthropicUsage()).updated(later)
            else:
                self.error_type = _error_type(data)
        except msgspec.DecodeError:
            pass  # the client gets the event as it came; billing falls back to the gateway's own count

    async def aclose(self) -> None:
        await self._response.aclose()
