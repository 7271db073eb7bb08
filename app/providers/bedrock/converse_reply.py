"""A Converse response as an OpenAI `chat.completion`, and ConverseStream events as `chat.completion.chunk`s."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from app.providers.base import Usage
from app.providers.bedrock.eventstream import EventStreamDecoder, EventStreamError
from app.providers.bedrock.wire import ConverseResponse, StreamPayload, finish_reason

_encode = msgspec.json.Encoder().encode
_decode_response = msgspec.json.Decoder(ConverseResponse).decode
_decode_event = msgspec.json.Decoder(StreamPayload).decode


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def chat_completion(content: bytes, model: str) -> tuple[bytes, Usage | None]:
    reply = _decode_response(content)
    texts, reasoning, tool_calls = [], [], []
    for block in reply.output.message.content if reply.output.message else []:
        if block.text is not None:
            texts.append(block.text)
        elif block.toolUse is not None:
            arguments = _encode(block.toolUse.input or {}).decode()
            tool_calls.append({"id": block.toolUse.toolUseId, "type": "function",
                               "function": {"name": block.toolUse.name, "arguments": arguments}})
        elif block.reasoningContent is not None and block.reasoningContent.reasoningText is not None:
            reasoning.append(block.reasoningContent.reasoningText.text)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage = reply.usage.as_openai() if reply.usage else None
    body = {
        "id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(reply.stopReason)}],
    }
    if usage is not None:
        body["usage"] = usage
    return _encode(body), usage


class ConverseStream:
    """Decodes the binary event stream as it arrives; the HTTP response stays open until `aclose`."""

    def __init__(self, response: httpx.Response, model: str) -> None:
        self._response = response
        self._base = {"id": _completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        self._tool_calls: dict[int, int] = {}  # content block index → OpenAI tool call index
        self._usage: Usage | None = None
        self._stopped = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + _encode({**self._base, "choices": [choice]}) + b"\n\n"

    async def events(self) -> AsyncIterator[bytes]:
        decoder = EventStreamDecoder()
        async for data in self._response.aiter_raw():
            for message in decoder.feed(data):
                try:
                    payload = _decode_event(message.payload)
                except msgspec.DecodeError:
                    raise EventStreamError("Bedrock sent an event whose payload is not valid JSON") from None
                if message.message_type != "event":
                    raise EventStreamError(f"Bedrock stream {message.exception_type or 'error'}: {payload.message or ''}")
                chunk = self._translate(message.event_type, payload)
                if chunk is not None:
                    yield chunk
        if decoder.pending or not self._stopped:
            raise EventStreamError("Bedrock stream ended before messageStop")
        if self._usage is not None:
            yield b"data: " + _encode({**self._base, "choices": [], "usage": self._usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    def _translate(self, event: str | None, payload: StreamPayload) -> bytes | None:
        if event == "messageStart":
            return self._chunk({"role": "assistant", "content": ""})
        if event == "contentBlockStart" and payload.start is not None and payload.start.toolUse is not None:
            index = self._tool_calls.setdefault(payload.contentBlockIndex, len(self._tool_calls))
            tool = payload.start.toolUse
            return self._chunk({"tool_calls": [{"index": index, "id": tool.toolUseId, "type": "function",
                                                "function": {"name": tool.name, "arguments": ""}}]})
        if event == "contentBlockDelta" and payload.delta is not None:
            delta = payload.delta
            if delta.text is not None:
                return self._chunk({"content": delta.text})
            if delta.toolUse is not None and payload.contentBlockIndex in self._tool_calls:
                index = self._tool_calls[payload.contentBlockIndex]
                return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": delta.toolUse.input}}]})
            if delta.reasoningContent is not None and delta.reasoningContent.text:
                return self._chunk({"reasoning_content": delta.reasoningContent.text})
            return None
        if event == "messageStop":
            self._stopped = True
            return self._chunk({}, finish_reason(payload.stopReason))
        if event == "metadata" and payload.usage is not None:
            self._usage = payload.usage.as_openai()
        return None

    async def aclose(self) -> None:
        await self._response.aclose()
