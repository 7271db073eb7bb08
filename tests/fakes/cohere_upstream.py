"""A fake Cohere API (v2): `/v2/chat` (JSON or typed SSE events), `/v2/embed` and `/v2/rerank`.

Requests are checked field by field against Cohere's v2 shapes (400 `invalid request: ...` when
they do not fit); answers carry Cohere's fields: `message.content[]`, `tool_plan`, `tool_calls`,
upper-case `finish_reason`, and `usage` with both `billed_units` and `tokens` (the model's own
count, here always 60 input tokens more than billed: Cohere's prompt template).

Behaviour by model:
  error-<status>     that status with Cohere's `{"id", "message"}` error body
  context-window     400 "too many tokens: ..."
  failed-finish      (streams) text, then message-end with finish_reason ERROR
  slow-<ms>          waits that long before each stream event
`tools` in the request makes the answer a tool call (unless the last message is a tool result).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import msgspec

from tests.fakes.asgi import DisconnectWatch, Recorded, lifespan, read_request, send_json
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode
WORDS = ["Hello", " from", " Cohere", " Command"]
TEMPLATE_TOKENS = 60
TOOL_PLAN = ["I will look up", " the weather in Paris."]
TOOL_CALL_ID = "get_weather_k8h2x3"
TOOL_ARGUMENT_PIECES = ['{"city":', ' "Paris"}']
CHAT_FIELDS = {"model", "messages", "tools", "documents", "citation_options", "response_format", "safety_mode",
               "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty", "presence_penalty", "k", "p",
               "logprobs", "tool_choice", "strict_tools", "stream", "thinking", "priority"}
MESSAGE_FIELDS = {"system": {"role", "content"}, "user": {"role", "content"},
                  "assistant": {"role", "content", "tool_calls", "tool_plan", "citations"},
                  "tool": {"role", "tool_call_id", "content"}}
CONTEXT_MESSAGE = ("too many tokens: total number of tokens in the prompt cannot exceed 128000 - received 131072. "
                   "Try using a shorter prompt, or enabling prompt truncating. See https://docs.cohere.com/reference/chat "
                   "for more details.")


class Invalid(Exception):
    pass


@dataclass
class CohereState:
    api_key: str
    requests: list[Recorded] = field(default_factory=list)
    cancelled_streams: int = 0


def _error_body(message: str) -> dict:
    return {"id": str(uuid.uuid4()), "message": message}


class FakeCohereApp:
    def __init__(self, state: CohereState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        request = await read_request(scope, receive)
        self.state.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.state.api_key}":
            return await send_json(send, 401, _error_body("invalid api token"))
        body = request.body
        model = body.get("model", "") if isinstance(body, dict) else ""
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            messages = {429: "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to "
                        "use the Trial key for free or upgrade to a Production key with higher rate limits at "
                        "'https://dashboard.cohere.com/api-keys'."}
            return await send_json(send, status, _error_body(messages.get(status, f"Fake Cohere error {status}")))
        if model == "context-window":
            return await send_json(send, 400, _error_body(CONTEXT_MESSAGE))
        routes = {"/v2/chat": self._chat, "/v2/embed": self._embed, "/v2/rerank": self._rerank}
        handler = routes.get(request.path)
        if handler is None or request.method != "POST":
            return await send_json(send, 404, _error_body(f"unknown route {request.path}"))
        try:
            await handler(body, send, receive)
        except Invalid as exc:
            await send_json(send, 400, _error_body(f"invalid request: {exc}"))

    # --- chat ---

    def _validate_chat(self, body) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise Invalid("model is required")
        unknown = set(body) - CHAT_FIELDS
        if unknown:
            raise Invalid(f"unknown fields {sorted(unknown)}")
        if not body.get("messages"):
            raise Invalid("messages must not be empty")
        for message in body["messages"]:
            role = message.get("role")
            if role not in MESSAGE_FIELDS or set(message) - MESSAGE_FIELDS[role]:
                raise Invalid(f"message fields {sorted(message)} do not fit role {role!r}")
            content = message.get("content")
            if role == "user":
                if not isinstance(content, str):
                    for part in content:
                        if part.get("type") not in ("text", "image_url", "document") or \
                                (part["type"] == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str)):
                            raise Invalid("user content parts are text, image_url {url} or document")
            if role == "assistant":
                for call in message.get("tool_calls") or []:
                    if call.get("type") != "function" or not isinstance(call["function"].get("arguments"), str):
                        raise Invalid("tool_calls: {id, type: function, function: {name, arguments: string}}")
            if role == "tool" and not message.get("tool_call_id"):
                raise Invalid("tool messages need tool_call_id")
            if role in ("system", "tool") and not isinstance(content, (str, list)):
                raise Invalid(f"{role} content must be a string or a list")
        for tool in body.get("tools") or []:
            function = tool.get("function") or {}
            if tool.get("type") != "function" or not function.get("name") or set(function) - {"name", "description", "parameters"}:
                raise Invalid("tools: [{type: function, function: {name, description?, parameters}}]")
        if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
            raise Invalid("tool_choice must be REQUIRED or NONE")
        if "stop_sequences" in body and not isinstance(body["stop_sequences"], list):
            raise Invalid("stop_sequences must be a list")

    def _plan(self, body: dict) -> dict:
        billed_in = sum(len(m["content"].split()) if isinstance(m.get("content"), str) else
                        sum(len(p.get("text", "").split()) for p in m.get("content") or [])
                        for m in body["messages"])
        wants_tool = body.get("tools") and body.get("tool_choice") != "NONE" and body["messages"][-1]["role"] != "tool"
        if wants_tool:
            plan = {"tool_plan": TOOL_PLAN, "tool": body["tools"][0]["function"]["name"], "finish_reason": "TOOL_CALL",
                    "output": 15}
        else:
            words, finish = list(WORDS), "COMPLETE"
            for stop in body.get("stop_sequences") or []:
                text = "".join(words)
                if stop in text:
                    words, finish = [text[: text.index(stop)]], "STOP_SEQUENCE"
                    break
            if body.get("max_tokens") is not None and body["max_tokens"] < len(words):
                words, finish = words[: body["max_tokens"]], "MAX_TOKENS"
            plan = {"text": words, "finish_reason": finish, "output": len(words)}
        plan["usage"] = {"billed_units": {"input_tokens": billed_in, "output_tokens": plan["output"]},
                         "tokens": {"input_tokens": billed_in + TEMPLATE_TOKENS, "output_tokens": plan["output"]}}
        return plan

    async def _chat(self, body, send, receive) -> None:
        self._validate_chat(body)
        plan = self._plan(body)
        if body.get("stream"):
            return await self._chat_stream(body, plan, send, receive)
        message: dict = {"role": "assistant"}
        if "tool" in plan:
            message["tool_plan"] = "".join(plan["tool_plan"])
            message["tool_calls"] = [{"id": TOOL_CALL_ID, "type": "function", "function": {
                "name": plan["tool"], "arguments": "".join(TOOL_ARGUMENT_PIECES)}}]
        else:
            message["content"] = [{"type": "text", "text": "".join(plan["text"])}]
        await send_json(send, 200, {"id": str(uuid.uuid4()), "message": message, "finish_reason": plan["finish_reason"],
                                    "usage": plan["usage"]})

    async def _chat_stream(self, body: dict, plan: dict, send, receive) -> None:
        model = body["model"]
        events: list[dict] = [{"id": str(uuid.uuid4()), "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}]
        if "tool" in plan:
            events += [{"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}} for piece in plan["tool_plan"]]
            events.append({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                "id": TOOL_CALL_ID, "type": "function", "function": {"name": plan["tool"], "arguments": ""}}}}})
            events += [{"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {
                "function": {"arguments": piece}}}}} for piece in TOOL_ARGUMENT_PIECES]
            events.append({"type": "tool-call-end", "index": 0})
        else:
            events.append({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})
            events += [{"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": word}}}}
                       for word in plan["text"]]
            events.append({"type": "content-end", "index": 0})
        finish = "ERROR" if model == "failed-finish" else plan["finish_reason"]
        events.append({"type": "message-end", "delta": {"finish_reason": finish, "usage": plan["usage"]}})
        delay = int(model.split("-", 1)[1]) / 1000 if model.startswith("slow-") else 0.0

        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        watch = DisconnectWatch(receive)
        try:
            for event in events:
                if delay:
                    await asyncio.sleep(delay)
                watch.raise_if_gone()
                data = f"event: {event['type']}\ndata: ".encode() + _encode(event) + b"\n\n"
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, asyncio.CancelledError):
            self.state.cancelled_streams += 1
        finally:
            watch.stop()

    # --- embed and rerank ---

    async def _embed(self, body, send, receive) -> None:
        allowed = {"model", "texts", "images", "inputs", "input_type", "embedding_types", "output_dimension", "truncate",
                   "max_tokens"}
        if not isinstance(body, dict) or set(body) - allowed:
            raise Invalid("unknown embed fields")
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering", "image"):
            raise Invalid("input_type is required for embed models v3 and higher")
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise Invalid("texts must be a non-empty list of strings")
        types = body.get("embedding_types") or ["float"]
        dims = body.get("output_dimension") or 8
        vectors = [[round(((sum(map(ord, text)) >> (i % 8)) % 997) / 997, 4) for i in range(dims)] for text in texts]
        await send_json(send, 200, {
            "id": str(uuid.uuid4()), "embeddings": {kind: vectors for kind in types if kind == "float"}, "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)}},
            "response_type": "embeddings_by_type"})

    async def _rerank(self, body, send, receive) -> None:
        if not isinstance(body, dict) or set(body) - {"model", "query", "documents", "top_n", "max_tokens_per_doc"}:
            raise Invalid("unknown rerank fields")
        documents = body.get("documents")
        if not isinstance(body.get("query"), str) or not isinstance(documents, list) or \
                not all(isinstance(d, str) for d in documents):
            raise Invalid("query (string) and documents (list of strings) are required")
        query = set(body["query"].lower().split())
        scores = [(index, round(len(query & set(doc.lower().split())) / (len(query) or 1), 4))
                  for index, doc in enumerate(documents)]
        scores.sort(key=lambda pair: -pair[1])
        top_n = body.get("top_n") or len(scores)
        await send_json(send, 200, {
            "id": str(uuid.uuid4()), "results": [{"index": i, "relevance_score": s} for i, s in scores[:top_n]],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}})


class FakeCohere(ThreadedServer):
    def __init__(self, *, api_key: str) -> None:
        self.state = CohereState(api_key)
        super().__init__(FakeCohereApp(self.state), "cohere")

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests
