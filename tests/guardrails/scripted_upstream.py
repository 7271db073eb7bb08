"""A fake OpenAI-compatible upstream whose answer the test chooses: `state.reply`, streamed in pieces of
`state.piece` characters (so a secret in it is split across chunks). Chat, completions and the Responses
API (native events in OpenAI's order: deltas, then the `.done` snapshots and `response.completed`);
it records what it received like the other fakes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.fakes.asgi import Recorded, lifespan, read_request, send_json
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode


@dataclass
class ScriptState:
    api_key: str
    reply: str = "Hello from the scripted upstream"
    piece: int = 3
    requests: list[Recorded] = field(default_factory=list)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptedApp:
    def __init__(self, state: ScriptState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        request = await read_request(scope, receive)
        self.state.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.state.api_key}":
            return await send_json(send, 401, {"error": {"message": "Incorrect API key provided.",
                                                         "type": "invalid_request_error", "param": None,
                                                         "code": "invalid_api_key"}})
        body = request.body or {}
        handler = {"/v1/chat/completions": self._chat, "/v1/completions": self._completions,
                   "/v1/responses": self._responses, "/v1/embeddings": self._embeddings}.get(request.path)
        if handler is None:
            return await send_json(send, 404, {"error": {"message": "unknown path", "type": "invalid_request_error"}})
        await handler(body, send)

    async def _sse(self, send, events: list[bytes]) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    def _data(payload: dict[str, Any]) -> bytes:
        return b"data: " + _encode(payload) + b"\n\n"

    async def _chat(self, body: dict, send) -> None:
        text, usage = self.state.reply, {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
        base = {"id": "chatcmpl-scripted", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            return await send_json(send, 200, {**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}]})
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [self._data({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "finish_reason": None}]})]
        events += [self._data({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                   for piece in _pieces(text, self.state.piece)]
        events.append(self._data({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(self._data({**chunk, "choices": [], "usage": usage}))
        await self._sse(send, events + [b"data: [DONE]\n\n"])

    async def _completions(self, body: dict, send) -> None:
        text, usage = self.state.reply, {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
        base = {"id": "cmpl-scripted", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model")}
        if not body.get("stream"):
            return await send_json(send, 200, {**base, "usage": usage, "choices": [
                {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}]})
        events = [self._data({**base, "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": None}]})
                  for piece in _pieces(text, self.state.piece)]
        events.append(self._data({**base, "choices": [{"index": 0, "text": "", "logprobs": None,
                                                       "finish_reason": "stop"}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(self._data({**base, "choices": [], "usage": usage}))
        await self._sse(send, events + [b"data: [DONE]\n\n"])

    async def _embeddings(self, body: dict, send) -> None:
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
        await send_json(send, 200, {"object": "list", "model": body.get("model"),
                                    "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2]}
                                             for i in range(count)],
                                    "usage": {"prompt_tokens": 3, "total_tokens": 3}})

    async def _responses(self, body: dict, send) -> None:
        text = self.state.reply
        usage = {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 13}
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"id": "msg_scripted", "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        response = {"id": "resp_scripted", "object": "response", "created_at": int(time.time()), "status": "completed",
                    "model": body.get("model"), "output": [item], "usage": usage, "parallel_tool_calls": True,
                    "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
                    "instructions": None, "metadata": {}, "temperature": None, "top_p": None}
        if not body.get("stream"):
            return await send_json(send, 200, response)
        where = {"item_id": "msg_scripted", "output_index": 0, "content_index": 0}
        events: list[tuple[str, dict]] = [
            ("response.created", {"response": {**response, "status": "in_progress", "output": [], "usage": None}}),
            ("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress",
                                                                        "content": []}}),
            ("response.content_part.added", {**where, "part": {**part, "text": ""}}),
            *(("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
              for piece in _pieces(text, self.state.piece)),
            ("response.output_text.done", {**where, "text": text, "logprobs": []}),
            ("response.content_part.done", {**where, "part": part}),
            ("response.output_item.done", {"output_index": 0, "item": item}),
            ("response.completed", {"response": response}),
        ]
        await self._sse(send, [f"event: {kind}\ndata: ".encode() + _encode({"type": kind, "sequence_number": n, **data})
                               + b"\n\n" for n, (kind, data) in enumerate(events)])


class ScriptedUpstream(ThreadedServer):
    """`with ScriptedUpstream(api_key=...) as upstream: upstream.state.reply = "..."`."""

    def __init__(self, *, api_key: str) -> None:
        self.state = ScriptState(api_key=api_key)
        super().__init__(ScriptedApp(self.state), "scripted")

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"
