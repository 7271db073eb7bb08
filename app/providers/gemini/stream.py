"""Gemini's `streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk` events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec

from app.providers.base import Usage
from app.providers.gemini.response import completion_id, finish_reason, tool_call, usage_body, usage_of
from app.providers.gemini.sse import sse_payloads
from app.providers.gemini.wire import GenerateContentResponse, decode_response

_encode = msgspec.json.Encoder().encode
DONE = b"data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + _encode(payload) + b"\n\n"


class ChunkTranslator:
    """Turns each Gemini stream response into OpenAI chunks; remembers what the next ones need."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id: str | None = None
        self.created = int(time.time())
        self.usage: Usage | None = None
        self.finished = False  # Gemini ends every complete stream with a finishReason (or a blocked prompt)
        self._started: set[int] = set()
        self._called: set[int] = set()
        self._calls: dict[int, int] = {}

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _event({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                       "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    def feed(self, response: GenerateContentResponse) -> Iterator[bytes]:
        if self.id is None:
            self.id = completion_id(response.response_id)
            self.model = response.model_version or self.model
        if response.usage_metadata is not None:
            self.usage = usage_of(response.usage_metadata)
        if not response.candidates and response.prompt_feedback and response.prompt_feedback.block_reason:
            self.finished = True
            yield self._chunk(0, {"role": "assistant", "content": None}, "content_filter")
        for position, candidate in enumerate(response.candidates):
            index = candidate.index if candidate.index is not None else position
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            text, thoughts, calls = [], [], []
            for part in candidate.content.parts if candidate.content else ():
                if part.function_call is not None:
                    number = self._calls.get(index, 0)
                    self._calls[index] = number + 1
                    # Gemini sends a call whole: one delta carries its complete arguments.
                    calls.append({"index": number, **tool_call(number, part)})
                elif part.text is not None:
                    (thoughts if part.thought else text).append(part.text)
            if thoughts:
                delta["reasoning_content"] = "".join(thoughts)
            if text:
                delta["content"] = "".join(text)
            if calls:
                self._called.add(index)
                delta["tool_calls"] = calls
            if text or thoughts or calls or (delta and not candidate.finish_reason):
                yield self._chunk(index, delta)
                delta = {}
            if candidate.finish_reason:
                self.finished = True
                yield self._chunk(index, delta, finish_reason(candidate.finish_reason, index in self._called))

    def finish(self) -> Iterator[bytes]:
        if self.usage is not None:
            yield _event({"id": self.id or completion_id(None), "object": "chat.completion.chunk",
                          "created": self.created, "model": self.model, "choices": [],
                          "usage": usage_body(self.usage)})
        yield DONE


class GeminiStream:
    """An open `streamGenerateContent` response; `aclose()` closes it (and so cancels the upstream)."""

    def __init__(self, response: httpx.Response, model: str) -> None:
        self._response = response
        self._model = model

    async def events(self) -> AsyncIterator[bytes]:
        translator = ChunkTranslator(self._model)
        async for payload in sse_payloads(self._response):
            try:
                response = decode_response(payload)
            except msgspec.DecodeError:
                continue
            if response.error is not None:
                # Raised as a transport failure: the relay ends the client's stream with its error event.
                raise httpx.RemoteProtocolError(f"Gemini stream failed: {response.error.status or 'error'}")
            for event in translator.feed(response):
                yield event
        if not translator.finished:
            raise httpx.RemoteProtocolError("Gemini stream ended before its finishReason")
        for event in translator.finish():
            yield event

    async def aclose(self) -> None:
        await self._response.aclose()
