"""A fake Anthropic upstream: a real HTTP server on 127.0.0.1 speaking the Messages API wire format.

`POST /v1/messages` (JSON or SSE with `stream: true`) and `POST /v1/messages/count_tokens`; requests are
checked like the real API does (`anthropic_checks.py`: headers `x-api-key` and `anthropic-version`,
every body field), answers follow Anthropic's documented shapes and event order.

Behaviour is chosen by the requested model name:
  error-<status>      that status with Anthropic's error body (529: overloaded_error; 429 adds retry-after)
  too-long            400 "prompt is too long: 208310 tokens > 200000 maximum"
  context-limit       400 "input length and `max_tokens` exceed context limit: ..."
  echo-key-400        a 400 whose message quotes the x-api-key received
  slow-<ms>           wait that many milliseconds before answering (streams: before each text delta)
  thinking-*          a thinking block (with signature) before the answer
  stream-error-*      streams break off with an `error` event (overloaded_error) after the first delta
  stream-cut-*        streams stop after the first delta without message_stop
anything else answers normally. With `tools` (and tool_choice not none) the answer is a `tool_use`
unless the last user turn holds tool results. `stop_sequences` and `max_tokens` cut the answer as they
would upstream. Prompt caching: the prefix up to the last `cache_control` is written on first sight and
read afterwards (no minimum length, unlike the real API). Tokens: one per whitespace-separated word.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.fakes.anthropic_checks import Invalid, check_messages_request
from tests.fakes.asgi import DisconnectWatch, headers_of, json_or_none, read_body, send_json
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}
PROMPT_TOO_LONG = "prompt is too long: 208310 tokens > 200000 maximum"
CONTEXT_LIMIT = ("input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, "
                 "decrease input length or `max_tokens` and try again")
TOOL_INPUT_PIECES = ["", '{"city": ', '"Paris"}']


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeState:
    api_key: str
    name: str = "fake-anthropic"
    chunks: int = 5
    requests: list[RecordedRequest] = field(default_factory=list)
    cache: set[str] = field(default_factory=set)
    open_streams: int = 0
    cancelled_streams: int = 0


def error_body(status: int, message: str) -> bytes:
    return _encode({"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}})


def _words(value: Any) -> int:
    return len((value if isinstance(value, str) else _encode(value).decode()).split())


def _block_tokens(block: dict) -> int:
    kind = block.get("type")
    if kind == "text":
        return _words(block["text"])
    if kind == "image":
        return 100
    if kind == "document":
        return 200
    if kind == "tool_use":
        return _words(block["input"]) + 1
    if kind == "tool_result":
        content = block.get("content") or ""
        return 1 + (_words(content) if isinstance(content, str) else sum(_block_tokens(b) for b in content))
    return _words(block.get("thinking") or "")


def _prompt_units(body: dict) -> list[tuple[int, Any, bool]]:
    """(tokens, content, is a cache breakpoint) in Anthropic's cache order: tools, system, messages."""
    units = [(_words(tool["name"]) + _words(tool.get("description") or "") + _words(tool["input_schema"]), tool,
              "cache_control" in tool) for tool in body.get("tools") or ()]
    system = body.get("system")
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system or ():
        units.append((_block_tokens(block), block, "cache_control" in block))
    for message in body["messages"]:
        units.append((3, message["role"], False))
        content = message["content"]
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            units.append((_block_tokens(block), block, "cache_control" in block))
    return units


def prompt_usage(body: dict, cache: set[str] | None) -> dict[str, int]:
    units = _prompt_units(body)
    total = sum(tokens for tokens, _, _ in units)
    breakpoints = [i for i, (_, _, marked) in enumerate(units) if marked]
    usage = {"input_tokens": total, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    if breakpoints and cache is not None:
        prefix = units[: breakpoints[-1] + 1]
        cached = sum(tokens for tokens, _, _ in prefix)
        key = hashlib.sha256(_encode([body["model"], [content for _, content, _ in prefix]])).hexdigest()
        usage["cache_read_input_tokens" if key in cache else "cache_creation_input_tokens"] = cached
        usage["input_tokens"] = total - cached
        cache.add(key)
    return usage


@dataclass
class Reply:
    blocks: list[dict]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int
    pieces: dict[int, list[str]]  # block index → stream pieces (text or partial JSON or thinking)


def _answers_with_tool(body: dict) -> bool:
    choice = body.get("tool_choice") or {"type": "auto"}
    if not body.get("tools") or choice["type"] == "none":
        return False
    last = body["messages"][-1]["content"]
    return not (isinstance(last, list) and any(block["type"] == "tool_result" for block in last))


def plan_reply(body: dict, state: FakeState) -> Reply:
    model = body["model"]
    blocks: list[dict] = []
    pieces: dict[int, list[str]] = {}
    output_tokens = 0
    if model.startswith("thinking"):
        thoughts = ["Let", " me", " think."]
        pieces[0] = thoughts
        blocks.append({"type": "thinking", "thinking": "".join(thoughts), "signature": "EqQBCgIYAhIM-fake-signature"})
        output_tokens += len(thoughts)
    if _answers_with_tool(body):
        choice = body.get("tool_choice") or {"type": "auto"}
        if choice["type"] == "auto":
            pieces[len(blocks)] = ["Let me check."]
            blocks.append({"type": "text", "text": "Let me check."})
        name = choice["name"] if choice["type"] == "tool" else body["tools"][0]["name"]
        pieces[len(blocks)] = TOOL_INPUT_PIECES
        blocks.append({"type": "tool_use", "id": "toolu_01FakeToolUse", "name": name, "input": {"city": "Paris"}})
        return Reply(blocks, "tool_use", None, output_tokens + 8, pieces)
    words = ["Hello"] + [f" w{i}" for i in range(1, state.chunks)]
    words[-1] += f" from {state.name}"
    stop_reason, stop_sequence = "end_turn", None
    text = "".join(words)
    found = [(text.find(stop), stop) for stop in body.get("stop_sequences") or () if stop in text]
    if found:
        cut, stop_sequence = min(found)
        kept, length = [], 0
        for word in words:
            if length + len(word) > cut:
                if cut > length:
                    kept.append(word[: cut - length])
                break
            kept.append(word)
            length += len(word)
        words, stop_reason = kept, "stop_sequence"
    if len(words) > body["max_tokens"]:
        words, stop_reason, stop_sequence = words[: body["max_tokens"]], "max_tokens", None
    pieces[len(blocks)] = words
    blocks.append({"type": "text", "text": "".join(words)})
    return Reply(blocks, stop_reason, stop_sequence, output_tokens + len(words), pieces)


class FakeAnthropicApp:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers, body = headers_of(scope), json_or_none(await read_body(receive))
        self.state.requests.append(RecordedRequest(scope["method"], scope["path"], headers, body))

        path = scope["path"]
        if scope["method"] != "POST" or path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return await self._json(send, 404, error_body(404, f"Not found: {path}"))
        key = headers.get("x-api-key")
        if key is None and headers.get("authorization", "").startswith("Bearer "):
            key = headers["authorization"][7:]  # newer official SDKs send API keys this way
        if key is None:
            return await self._json(send, 401, error_body(401, "x-api-key header is required"))
        if key != self.state.api_key:
            return await self._json(send, 401, error_body(401, "invalid x-api-key"))
        if "anthropic-version" not in headers:
            return await self._json(send, 400, error_body(400, "anthropic-version: header is required"))
        if not headers.get("content-type", "").startswith("application/json") or body is None:
            return await self._json(send, 400, error_body(400, "There was an error parsing the body as JSON"))
        counting = path.endswith("/count_tokens")
        try:
            check_messages_request(body, count_tokens=counting)
        except Invalid as exc:
            return await self._json(send, 400, error_body(400, str(exc)))
        if await self._scenario(body["model"], headers, send):
            return
        if counting:
            usage = prompt_usage(body, None)
            return await self._json(send, 200, _encode({"input_tokens": usage["input_tokens"]}))
        if body.get("stream"):
            return await self._stream(body, send, receive)
        await asyncio.sleep(self._delay(body["model"]))
        reply = plan_reply(body, self.state)
        payload = {"id": "msg_01FakeMessage", "type": "message", "role": "assistant", "model": body["model"],
                   "content": reply.blocks, "stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence,
                   "usage": self._usage(body, reply.output_tokens)}
        await self._json(send, 200, _encode(payload))

    def _usage(self, body: dict, output_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {**prompt_usage(body, self.state.cache), "output_tokens": output_tokens,
                                 "service_tier": "standard"}
        if body["model"].startswith("thinking"):
            usage["output_tokens_details"] = {"thinking_tokens": 3}
        return usage

    @staticmethod
    def _delay(model: str) -> float:
        return int(model.split("-", 1)[1]) / 1000 if model.startswith("slow-") else 0.0

    async def _json(self, send, status: int, payload: bytes, extra: dict[str, str] | None = None) -> None:
        await send_json(send, status, payload, {"request-id": "req_01FakeRequest", **(extra or {})})

    async def _scenario(self, model: str, headers: dict[str, str], send) -> bool:
        """Apply the model-name scenario; True when an error answer was already sent."""
        if model == "echo-key-400":
            message = f"Invalid request made with credential {headers.get('x-api-key')}"
        elif model == "too-long":
            message = PROMPT_TOO_LONG
        elif model == "context-limit":
            message = CONTEXT_LIMIT
        elif model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            extra = {"retry-after": "7"} if status == 429 else {}
            messages = {529: "Overloaded", 429: "Number of request tokens has exceeded your per-minute rate limit"}
            await self._json(send, status, error_body(status, messages.get(status, f"Fake upstream error {status}")),
                             extra)
            return True
        else:
            return False
        await self._json(send, 400, error_body(400, message))
        return True

    async def _stream(self, body: dict, send, receive) -> None:
        model = body["model"]
        reply = plan_reply(body, self.state)
        delay = self._delay(model)

        async def event(name: str, data: dict, more: bool = True) -> None:
            watch.raise_if_gone()
            chunk = b"event: " + name.encode() + b"\ndata: " + _encode({"type": name, **data}) + b"\n\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

        async def end() -> None:  # the body ends with no message_stop, as when a connection is cut
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                                (b"request-id", b"req_01FakeRequest")]})
        watch = DisconnectWatch(receive)
        self.state.open_streams += 1
        try:
            usage = self._usage(body, reply.output_tokens)
            start_usage = {**usage, "output_tokens": 1}
            start_usage.pop("output_tokens_details", None)
            await event("message_start", {"message": {
                "id": "msg_01FakeMessage", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
            for index, block in enumerate(reply.blocks):
                await self._stream_block(event, end, index, block, reply.pieces[index], model, delay)
            delta_usage = {"output_tokens": usage["output_tokens"]}
            if "output_tokens_details" in usage:
                delta_usage["output_tokens_details"] = usage["output_tokens_details"]
            await event("message_delta", {"delta": {"stop_reason": reply.stop_reason,
                                                    "stop_sequence": reply.stop_sequence}, "usage": delta_usage})
            await event("message_stop", {}, more=False)
        except _StreamEnded:
            pass
        except (OSError, asyncio.CancelledError):
            self.state.cancelled_streams += 1
        finally:
            watch.stop()
            self.state.open_streams -= 1

    async def _stream_block(self, event, end, index: int, block: dict, pieces: list[str], model: str,
                            delay: float) -> None:
        kind = block["type"]
        start = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {**block, "input": {}}}[kind]
        await event("content_block_start", {"index": index, "content_block": start})
        if index == 0:
            await event("ping", {})
        for n, piece in enumerate(pieces):
            if delay:
                await asyncio.sleep(delay)
            delta = {"text": {"type": "text_delta", "text": piece},
                     "thinking": {"type": "thinking_delta", "thinking": piece},
                     "tool_use": {"type": "input_json_delta", "partial_json": piece}}[kind]
            await event("content_block_delta", {"index": index, "delta": delta})
            if n == 0 and model.startswith("stream-error"):
                await event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}, more=False)
                raise _StreamEnded
            if n == 0 and model.startswith("stream-cut"):
                await end()
                raise _StreamEnded
        if kind == "thinking":
            await event("content_block_delta", {"index": index, "delta": {"type": "signature_delta",
                                                                          "signature": block["signature"]}})
        await event("content_block_stop", {"index": index})


class _StreamEnded(Exception):
    """The scenario ended the stream early on purpose."""


class FakeAnthropic(ThreadedServer):
    """Runs the fake in a background thread with its own event loop: `with FakeAnthropic(api_key=...) as fake`."""

    def __init__(self, *, api_key: str, name: str = "fake-anthropic", chunks: int = 5) -> None:
        self.state = FakeState(api_key=api_key, name=name, chunks=chunks)
        super().__init__(FakeAnthropicApp(self.state), f"upstream-{name}")

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests
