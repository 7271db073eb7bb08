"""A fake OpenAI-compatible upstream: a real HTTP server on 127.0.0.1 speaking OpenAI's wire format.

Used by the test-suite (in a background thread, see `FakeOpenAI`) and by `bench/` (as a
process: `python -m tests.fakes.openai_upstream --port 9001 --chunks 20`). It is a bare ASGI
app so that it costs as little CPU as possible next to the gateway being measured.

Behaviour is chosen by the requested model name:
  error-500 / error-429 / error-400  answer with that status and an OpenAI error body
  echo-key-400                       a 400 whose message quotes the Authorization header received
  no-usage-*                         never reports usage (like servers that ignore stream_options)
  small-context-<n>                  a 400 context_length_exceeded when the prompt has more than n tokens
  slow-<ms>                          wait that many milliseconds before answering (streams: per chunk)
anything else answers normally. `tools` in the request makes the answer a tool call.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.fakes.asgi import DisconnectWatch, headers_of, lifespan, read_body, send_json
from tests.fakes.threaded_server import ThreadedServer

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeState:
    api_key: str | None = None
    chunks: int = 5
    latency_s: float = 0.0
    name: str = "fake"
    record: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    # Set while a stream is being written; tests use it to see that a dropped client cancelled us.
    open_streams: int = 0
    cancelled_streams: int = 0


def _error(status: int, message: str, type_: str, code: str | None = None) -> tuple[int, bytes]:
    return status, _json_encode({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _prompt_tokens(body: dict) -> int:
    # Deterministic stand-in for a tokenizer: one token per whitespace-separated word, plus 3 per message.
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content.split()) + 3
        elif isinstance(content, list):
            total += sum(len(str(part.get("text", "")).split()) for part in content) + 3
    return max(total, 1)


class FakeOpenAIApp:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        raw = await read_body(receive)
        headers = headers_of(scope)
        if headers.get("content-type", "").startswith("multipart/form-data"):
            body = {"multipart": raw}
        else:
            body = _json_decode(raw) if raw else None
        if self.state.record:
            self.state.requests.append(RecordedRequest(scope["method"], scope["path"], headers, body))

        if self.state.api_key is not None and headers.get("authorization") != f"Bearer {self.state.api_key}":
            status, payload = _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return await send_json(send, status, payload)

        path = scope["path"]
        if path == "/v1/chat/completions" or path == "/chat/completions":
            return await self._chat(body, send, receive, headers)
        if path == "/v1/embeddings" or path == "/embeddings":
            return await self._embeddings(body, send)
        if path == "/v1/responses":
            return await self._responses(body, send)
        if path == "/v1/completions":
            return await self._completions(body, send)
        if path == "/v1/images/generations":
            payload = {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(b"fake-png").decode(),
                                                               "revised_prompt": body.get("prompt")}]}
            return await send_json(send, 200, payload)
        if path == "/v1/moderations":
            flagged = "attack" in str(body.get("input", ""))
            payload = {"id": "modr-fake", "model": body.get("model"), "results": [{
                "flagged": flagged, "categories": {"violence": flagged}, "category_scores": {"violence": 0.9 if flagged else 0.01}}]}
            return await send_json(send, 200, payload)
        if path == "/v1/audio/speech":
            audio = b"ID3fake-mp3:" + str(body.get("input", "")).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"audio/mpeg"), (b"content-length", str(len(audio)).encode())]})
            return await send({"type": "http.response.body", "body": audio})
        if path == "/v1/audio/transcriptions":
            if b'name="file"' not in body.get("multipart", b""):
                status, payload = _error(400, "'file' is required", "invalid_request_error")
                return await send_json(send, status, payload)
            payload = {"text": "hello from the fake audio", "usage": {"type": "tokens", "input_tokens": 12,
                                                                     "output_tokens": 5, "total_tokens": 17}}
            return await send_json(send, 200, payload)
        if path == "/v1/models" or path == "/models":
            payload = {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": self.state.name}]}
            return await send_json(send, 200, payload)
        status, payload = _error(404, f"Unknown path {path}", "invalid_request_error", "unknown_url")
        await send_json(send, status, payload)

    async def _scenario(self, model: str, send, headers: dict[str, str] | None = None, body: dict | None = None) -> bool:
        """Apply the model-name scenario; True when an error answer was already sent."""
        if model == "echo-key-400":
            # Some vendors quote the credential they got in an error; the gateway must not pass it on.
            key = (headers or {}).get("authorization", "")
            status, payload = _error(400, f"Invalid request made with credential {key}", "invalid_request_error")
            await send_json(send, status, payload)
            return True
        if model.startswith("small-context-") and body is not None:
            limit, used = int(model.rsplit("-", 1)[1]), _prompt_tokens(body)
            if used > limit:
                message = (f"This model's maximum context length is {limit} tokens. However, your messages resulted "
                           f"in {used} tokens. Please reduce the length of the messages.")
                payload = _json_encode({"error": {"message": message, "type": "invalid_request_error",
                                                  "param": "messages", "code": "context_length_exceeded"}})
                await send_json(send, 400, payload)
                return True
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error")
            status, payload = _error(status, f"Fake upstream error {status}", kind)
            await send_json(send, status, payload)
            return True
        return False

    def _delay(self, model: str) -> float:
        if model.startswith("slow-"):
            return int(model.split("-", 1)[1]) / 1000
        return self.state.latency_s

    async def _chat(self, body: dict, send, receive, headers: dict[str, str]) -> None:
        if not isinstance(body, dict) or "messages" not in body or "model" not in body:
            status, payload = _error(400, "'messages' and 'model' are required", "invalid_request_error")
            return await send_json(send, status, payload)
        model = body["model"]
        if await self._scenario(model, send, headers, body):
            return
        delay = self._delay(model)
        prompt_tokens = _prompt_tokens(body)
        created = int(time.time())
        chat_id = f"chatcmpl-{self.state.name}-{created}"
        words = ["Hello"] + [f" w{i}" for i in range(1, self.state.chunks)]
        words[-1] = words[-1] + f" from {self.state.name}"
        wants_tool = bool(body.get("tools")) and body.get("tool_choice") != "none"

        if not body.get("stream"):
            if delay:
                await asyncio.sleep(delay)
            if wants_tool:
                tool = body["tools"][0]["function"]["name"]
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_fake_1", "type": "function", "function": {"name": tool, "arguments": '{"city":"Paris"}'}}],
                    "refusal": None,
                }
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": "".join(words), "refusal": None}
                finish = "stop"
            completion_tokens = len(words)
            payload = {
                "id": chat_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                },
            }
            if model.startswith("no-usage"):
                del payload["usage"]
            return await send_json(send, 200, payload)

        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and not model.startswith("no-usage")
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
        })
        base = {"id": chat_id, "object": "chat.completion.chunk", "created": created, "model": model, "system_fingerprint": "fp_fake"}
        usage_field = {"usage": None} if include_usage else {}

        def event(choices: list, **extra) -> bytes:
            return b"data: " + _json_encode({**base, "choices": choices, **usage_field, **extra}) + b"\n\n"

        watch = DisconnectWatch(receive)
        real_send = send

        async def send(message):  # noqa: F811 - the same send, refusing to go on after a disconnect
            watch.raise_if_gone()
            await real_send(message)

        self.state.open_streams += 1
        try:
            await send({"type": "http.response.body", "body": event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]), "more_body": True})
            if wants_tool:
                tool = body["tools"][0]["function"]["name"]
                pieces = [
                    {"index": 0, "id": "call_fake_1", "type": "function", "function": {"name": tool, "arguments": ""}},
                    {"index": 0, "function": {"arguments": '{"city":'}},
                    {"index": 0, "function": {"arguments": '"Paris"}'}},
                ]
                for piece in pieces:
                    await send({"type": "http.response.body", "body": event([{"index": 0, "delta": {"tool_calls": [piece]}, "logprobs": None, "finish_reason": None}]), "more_body": True})
                finish = "tool_calls"
                completion_tokens = len(pieces)
            else:
                for word in words:
                    if delay:
                        await asyncio.sleep(delay)
                    await send({"type": "http.response.body", "body": event([{"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}]), "more_body": True})
                finish = "stop"
                completion_tokens = len(words)
            await send({"type": "http.response.body", "body": event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]), "more_body": True})
            if include_usage:
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
                chunk = b"data: " + _json_encode({**base, "choices": [], "usage": usage}) + b"\n\n"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        except (OSError, asyncio.CancelledError):
            self.state.cancelled_streams += 1
        finally:
            watch.stop()
            self.state.open_streams -= 1

    async def _responses(self, body: dict, send) -> None:
        """A minimal OpenAI Responses API: one message item; streams the documented event sequence."""
        model = body.get("model", "")
        text = "Hello from responses"
        usage = {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 13}
        item = {"id": "msg_fake", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}
        response = {"id": "resp_fake", "object": "response", "created_at": int(time.time()), "status": "completed",
                    "model": model, "output": [item], "usage": usage, "parallel_tool_calls": True, "tool_choice": "auto",
                    "tools": [], "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
                    "temperature": None, "top_p": None}
        if not body.get("stream"):
            return await send_json(send, 200, response)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        events = [
            ("response.created", {"response": {**response, "status": "in_progress", "output": [], "usage": None}}),
            ("response.output_text.delta", {"item_id": "msg_fake", "output_index": 0, "content_index": 0,
                                            "delta": text, "logprobs": []}),
            ("response.completed", {"response": response}),
        ]
        for number, (kind, payload) in enumerate(events):
            data = _json_encode({"type": kind, "sequence_number": number, **payload})
            await send({"type": "http.response.body", "body": f"event: {kind}\ndata: ".encode() + data + b"\n\n",
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _completions(self, body: dict, send) -> None:
        model = body.get("model", "")
        if await self._scenario(model, send, None, body):
            return
        prompt = body.get("prompt")
        prompt_tokens = max(len(str(prompt).split()), 1)
        words = ["Once"] + [f" t{i}" for i in range(1, self.state.chunks)]
        base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        if not body.get("stream"):
            payload = {**base, "choices": [{"text": "".join(words), "index": 0, "logprobs": None,
                                            "finish_reason": "length"}], "usage": usage}
            return await send_json(send, 200, payload)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")]})
        for word in words:
            chunk = {**base, "choices": [{"text": word, "index": 0, "logprobs": None, "finish_reason": None}]}
            await send({"type": "http.response.body", "body": b"data: " + _json_encode(chunk) + b"\n\n", "more_body": True})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**base, "choices": [], "usage": usage}
            await send({"type": "http.response.body", "body": b"data: " + _json_encode(chunk) + b"\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    async def _embeddings(self, body: dict, send) -> None:
        model = body.get("model", "")
        if await self._scenario(model, send):
            return
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dims = int(body.get("dimensions") or 8)
        data = []
        tokens = 0
        for index, item in enumerate(inputs or []):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += max(len(text.split()), 1)
            vector = [round(((hash(text) >> (i % 32)) % 1000) / 1000, 3) for i in range(dims)]
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        payload = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        await send_json(send, 200, payload)


class FakeOpenAI(ThreadedServer):
    """Runs the fake in a background thread with its own event loop: `with FakeOpenAI() as fake: fake.base_url`."""

    def __init__(self, *, api_key: str | None = None, chunks: int = 5, name: str = "fake", port: int = 0) -> None:
        self.state = FakeState(api_key=api_key, chunks=chunks, name=name)
        super().__init__(FakeOpenAIApp(self.state), f"upstream-{name}", port=port)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    state = FakeState(api_key=args.api_key, chunks=args.chunks, latency_s=args.latency_ms / 1000, record=False)
    uvicorn.run(FakeOpenAIApp(state), host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off", loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
