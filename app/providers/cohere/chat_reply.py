"""Cohere v2 chat answers as OpenAI's: a whole `chat.completion`, or SSE events as `chat.completion.chunk`s."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec

from app.providers.base import Usage
from app.providers.cohere.wire import (
    FAILED_FINISH_REASONS, ChatResponse, ContentDeltaEvent, MessageEndEvent, StreamHead, ToolCallEvent, finish_reason)
from app.providers.openai_compatible import OpenAIStream

_encode = msgspec.json.Encoder().encode
_decode_chat = msgspec.json.Decoder(ChatResponse).decode
_decode_head = msgspec.json.Decoder(StreamHead).decode


class StreamFailed(httpx.HTTPError):
    """Cohere ended a stream with an error: the relay treats it as a failed upstream stream."""


def chat_completion(content: bytes, model: str) -> tuple[dict[str, Any], Usage | None, str | None]:
    """The OpenAI body, its usage, and Cohere's finish reason (which may say the generation failed)."""
    reply = _decode_chat(content)
    texts = [item.text for item in reply.message.content if item.type == "text" and item.text is not None]
    thinking = [item.thinking for item in reply.message.content if item.type == "thinking" and item.thinking]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if reply.message.tool_calls:
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.function.name if call.function else None,
                                               "arguments": (call.function.arguments if call.function else None) or "{}"}}
                                 for call in reply.message.tool_calls]
    usage = reply.usage.as_openai() if reply.usage else None
    body: dict[str, Any] = {
        "id": reply.id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(reply.finish_reason)}],
    }
    if usage is not None:
        body["usage"] = usage
    return body, usage, reply.finish_reason


def _data_of(event: bytes) -> bytes | None:
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


class CohereStream:
    """Cohere's typed SSE events, translated one by one; the HTTP response stays open until `aclose`."""

    def __init__(self, response: httpx.Response, model: str) -> None:
        self._sse = OpenAIStream(response)  # only to split the byte stream into SSE events
        self._base = {"id": "", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        self._usage: Usage | None = None
        self._ended = False
        self._handlers: dict[str, Callable[[bytes, StreamHead], bytes | None]] = {
            "message-start": self._message_start,
            "content-delta": self._content_delta,
            "tool-call-start": self._tool_call,
            "tool-call-delta": self._tool_call,
            "message-end": self._message_end,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + _encode({**self._base, "choices": [choice]}) + b"\n\n"

    async def events(self) -> AsyncIterator[bytes]:
        async for event in self._sse.events():
            data = _data_of(event)
            if not data or data == b"[DONE]":
                continue
            try:
                head = _decode_head(data)
                handler = self._handlers.get(head.type)
                chunk = handler(data, head) if handler else None
            except msgspec.DecodeError:
                raise StreamFailed("Cohere sent a stream event that is not valid JSON") from None
            if chunk is not None:
                yield chunk
        if not self._ended:
            raise StreamFailed("Cohere stream ended before message-end")
        if self._usage is not None:
            yield b"data: " + _encode({**self._base, "choices": [], "usage": self._usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    def _message_start(self, data: bytes, head: StreamHead) -> bytes:
        self._base["id"] = head.id or ""
        return self._chunk({"role": "assistant", "content": ""})

    def _content_delta(self, data: bytes, head: StreamHead) -> bytes | None:
        event = msgspec.json.decode(data, type=ContentDeltaEvent)
        content = event.delta.message.content if event.delta and event.delta.message else None
        if content is None:
            return None
        if content.text is not None:
            return self._chunk({"content": content.text})
        if content.thinking:
            return self._chunk({"reasoning_content": content.thinking})
        return None

    def _tool_call(self, data: bytes, head: StreamHead) -> bytes | None:
        event = msgspec.json.decode(data, type=ToolCallEvent)
        call = event.delta.message.tool_calls if event.delta and event.delta.message else None
        if call is None or call.function is None:
            return None
        piece: dict[str, Any] = {"index": event.index, "function": {"arguments": call.function.arguments or ""}}
        if head.type == "tool-call-start":
            piece = {"index": event.index, "id": call.id, "type": "function",
                     "function": {"name": call.function.name, "arguments": call.function.arguments or ""}}
        return self._chunk({"tool_calls": [piece]})

    def _message_end(self, data: bytes, head: StreamHead) -> bytes:
        event = msgspec.json.decode(data, type=MessageEndEvent)
        delta = event.delta
        if delta is not None and delta.finish_reason in FAILED_FINISH_REASONS:
            raise StreamFailed(f"Cohere ended the stream with {delta.finish_reason}")
        self._ended = True
        if delta is not None and delta.usage is not None:
            self._usage = delta.usage.as_openai()
        return self._chunk({}, finish_reason(delta.finish_reason if delta else None))

    async def aclose(self) -> None:
        await self._sse.aclose()
