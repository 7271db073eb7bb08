"""A fake Google AI (Generative Language API) upstream: a real HTTP server on 127.0.0.1 speaking Gemini's wire format.

  POST /v1beta/models/{model}:generateContent
  POST /v1beta/models/{model}:streamGenerateContent?alt=sse   (`data: {GenerateContentResponse}\\r\\n\\r\\n` events)
  POST /v1beta/models/{model}:batchEmbedContents
Auth: `x-goog-api-key`; a wrong key gets Google's real answer (400 INVALID_ARGUMENT, reason API_KEY_INVALID).
Request bodies are checked field by field against Gemini's schema: an unknown field is a 400 with Google's
"Invalid JSON payload received. Unknown name ..." message, as the real API answers.

Behaviour by model name (the same generator serves Gemini-on-Vertex, see vertex_upstream.py):
  error-500 / error-429 / error-400   that status with a Google error body
  too-long                           400 "The input token count (...) exceeds the maximum number of tokens allowed (...)"
  blocked                            the prompt is blocked: no candidates, promptFeedback.blockReason SAFETY
  thinking                           thought parts first (thoughtsTokenCount 7)
  cached                             cachedContentTokenCount 4
  slow-<ms>                          wait before each streamed chunk (a dropped client shows in `cancelled_streams`)
  stream-cut                         the stream stops after its first chunk, before any finishReason
`tools` (with mode other than NONE) makes the answer a functionCall; a small `maxOutputTokens` truncates (MAX_TOKENS).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec

from tests.fakes.asgi import DisconnectWatch, headers_of, json_or_none, lifespan, read_body, send_json
from tests.fakes.gemini_checks import GoogleError, check_fields, check_generate_request
from tests.fakes.threaded_server import ThreadedServer

json_encode = msgspec.json.Encoder().encode
json_decode = msgspec.json.Decoder().decode

ANSWER = ["Hello", " from", " fake", " gemini"]
TOKEN_LIMIT = 1048576


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeState:
    api_key: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    open_streams: int = 0
    cancelled_streams: int = 0


def _words(text: str) -> int:
    return len(text.split())


def prompt_tokens(body: dict) -> int:
    """A deterministic stand-in for a tokenizer: one token per word, 258 per image (Gemini's own figure)."""
    total = 0
    for content in [*(body.get("contents") or []), body.get("systemInstruction") or {}]:
        for part in content.get("parts") or []:
            if "text" in part:
                total += _words(part["text"])
            elif "inlineData" in part or "fileData" in part:
                total += 258
            elif "functionCall" in part or "functionResponse" in part:
                total += 5
    return max(total, 1)


def scenario_error(model: str, body: dict) -> GoogleError | None:
    if model.startswith("error-"):
        code = int(model.split("-", 1)[1])
        status = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[code]
        message = {429: "Resource has been exhausted (e.g. check quota).",
                   500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                   400: "Request contains an invalid argument."}.get(code, "Fake upstream error")
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "11.5s"}] if code == 429 else None
        return GoogleError(code, status, message, details)
    if model == "too-long":
        return GoogleError(400, "INVALID_ARGUMENT",
                           f"The input token count ({TOKEN_LIMIT + 151424}) exceeds the maximum number of tokens allowed ({TOKEN_LIMIT}).")
    return None


def _function_call(body: dict) -> dict | None:
    config = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {})
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    if not declarations or config.get("mode") == "NONE":
        return None
    allowed = config.get("allowedFunctionNames") or [declarations[0]["name"]]
    return {"name": allowed[0], "args": {"city": "Paris"}}


@dataclass
class Plan:
    """What the fake will answer, before it is cut into a whole response or stream chunks."""

    thoughts: list[str]
    words: list[str]
    call: dict | None
    finish: str
    prompt: int
    cached: int


def plan_answer(model: str, body: dict) -> Plan:
    call = _function_call(body)
    words = [] if call else list(ANSWER)
    limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
    finish = "STOP"
    if limit is not None and len(words) > limit:
        words, finish = words[:limit], "MAX_TOKENS"
    thoughts = ["Thinking about", " the greeting."] if model == "thinking" else []
    return Plan(thoughts, words, call, finish, prompt_tokens(body), 4 if model == "cached" else 0)


def usage_metadata(plan: Plan, *, final: bool = True) -> dict:
    if not final:  # intermediate stream chunks only say what the prompt cost
        return {"promptTokenCount": plan.prompt, "totalTokenCount": plan.prompt}
    candidates = len(plan.words) + (3 if plan.call else 0)
    thoughts = 7 if plan.thoughts else 0
    usage = {"promptTokenCount": plan.prompt, "candidatesTokenCount": candidates,
             "totalTokenCount": plan.prompt + candidates + thoughts,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt}]}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if plan.cached:
        usage["cachedContentTokenCount"] = plan.cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.cached}]
    return usage


def generate_response(model: str, body: dict, version: str) -> dict:
    plan = plan_answer(model, body)
    if model == "blocked":
        return {"promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": plan.prompt, "totalTokenCount": plan.prompt},
                "modelVersion": version, "responseId": "fake-blocked"}
    candidates = []
    for index in range((body.get("generationConfig") or {}).get("candidateCount") or 1):
        parts: list[dict] = [{"text": "".join(plan.thoughts), "thought": True}] if plan.thoughts else []
        if plan.call:
            parts.append({"functionCall": plan.call})
        else:
            parts.append({"text": "".join(plan.words)})
        candidates.append({"content": {"parts": parts, "role": "model"}, "finishReason": plan.finish, "index": index,
                           "avgLogprobs": -0.12})
    return {"candidates": candidates, "usageMetadata": usage_metadata(plan), "modelVersion": version,
            "responseId": "fake-response-1"}


def stream_responses(model: str, body: dict, version: str) -> list[dict]:
    plan = plan_answer(model, body)
    base = {"modelVersion": version, "responseId": "fake-stream-1"}
    if model == "blocked":
        return [{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage_metadata(plan, final=False), **base}]
    pieces: list[dict] = [{"text": thought, "thought": True} for thought in plan.thoughts]
    pieces += [{"functionCall": plan.call}] if plan.call else [{"text": word} for word in plan.words]
    if model == "stream-cut":
        pieces = pieces[:1]
    chunks = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1 and model != "stream-cut"
        candidate: dict[str, Any] = {"content": {"parts": [piece], "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = plan.finish
        chunks.append({"candidates": [candidate], "usageMetadata": usage_metadata(plan, final=last), **base})
    return chunks


def embed_response(body: dict) -> dict:
    embeddings = []
    for request in body["requests"]:
        text = request["content"]["parts"][0]["text"]
        dims = request.get("outputDimensionality") or 8
        embeddings.append({"values": [round((len(text) + i) / 100, 3) for i in range(dims)]})
    return {"embeddings": embeddings}


class Http:
    """One exchange as Google's servers answer it: JSON with charset, or an SSE stream."""

    def __init__(self, scope, receive, send) -> None:
        self.scope, self.receive, self.asgi_send = scope, receive, send

    async def body(self) -> bytes:
        return await read_body(self.receive)

    async def json(self, status: int, payload: bytes) -> None:
        await send_json(self.asgi_send, status, payload, content_type="application/json; charset=UTF-8")

    async def start_stream(self) -> None:
        self._watch = DisconnectWatch(self.receive)
        await self.asgi_send({"type": "http.response.start", "status": 200,
                          "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})

    async def write(self, data: bytes, more: bool = True) -> None:
        self._watch.raise_if_gone()
        await self.asgi_send({"type": "http.response.body", "body": data, "more_body": more})

    def end_stream(self) -> None:
        self._watch.stop()


def delay_of(model: str) -> float:
    return int(model.split("-", 1)[1]) / 1000 if model.startswith("slow-") else 0.0


async def serve_gemini_stream(http: Http, state: FakeState, model: str, body: dict, version: str) -> None:
    """Gemini's SSE framing: `data: <json>` then CRLF CRLF, no event names, no [DONE]."""
    await http.start_stream()
    state.open_streams += 1
    try:
        for chunk in stream_responses(model, body, version):
            if delay_of(model):
                await asyncio.sleep(delay_of(model))
            await http.write(b"data: " + json_encode(chunk) + b"\r\n\r\n")
        await http.write(b"", more=False)
    except (OSError, asyncio.CancelledError):
        state.cancelled_streams += 1
    finally:
        http.end_stream()
        state.open_streams -= 1


class FakeGeminiApp:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        http = Http(scope, receive, send)
        body = json_or_none(await http.body())
        headers, query = headers_of(scope), parse_qs(scope["query_string"].decode())
        self.state.requests.append(RecordedRequest(scope["method"], scope["path"], query, headers, body))
        try:
            await self._route(http, scope["path"], query, headers, body)
        except GoogleError as error:
            await http.json(error.code, error.body())

    async def _route(self, http: Http, path: str, query, headers, body) -> None:
        if headers.get("x-goog-api-key") != self.state.api_key:
            raise GoogleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        prefix = "/v1beta/models/"
        if not path.startswith(prefix) or ":" not in path:
            raise GoogleError(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
        model, _, method = path[len(prefix):].partition(":")
        if not isinstance(body, dict):
            raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if method == "batchEmbedContents":
            check_fields(body, {"requests"}, "")
            for i, request in enumerate(body["requests"]):
                check_fields(request, {"model", "content", "taskType", "title", "outputDimensionality"}, f"requests[{i}]")
                if request["model"] != f"models/{model}":
                    raise GoogleError(400, "INVALID_ARGUMENT", f"* BatchEmbedContentsRequest.requests[{i}].model: model must match the request model")
            return await http.json(200, json_encode(embed_response(body)))
        if method not in ("generateContent", "streamGenerateContent"):
            raise GoogleError(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
        check_generate_request(body)
        error = scenario_error(model, body)
        if error is not None:
            raise error
        if method == "generateContent":
            return await http.json(200, json_encode(generate_response(model, body, model)))
        if query.get("alt") != ["sse"]:
            raise GoogleError(400, "INVALID_ARGUMENT", "this fake only streams with alt=sse")
        await serve_gemini_stream(http, self.state, model, body, model)


class FakeGemini(ThreadedServer):
    """`with FakeGemini(api_key=...) as fake: fake.base_url` (the api_base to configure)."""

    def __init__(self, *, api_key: str) -> None:
        self.state = FakeState(api_key=api_key)
        super().__init__(FakeGeminiApp(self.state), "gemini")

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests
