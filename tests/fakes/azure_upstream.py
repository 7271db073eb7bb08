"""A fake Azure OpenAI resource: deployment URLs, `api-version`, `api-key`, and Azure's own additions.

Azure serves OpenAI's bodies, so answers come from the OpenAI fake (`FakeOpenAIApp`); this layer
adds what Azure does differently: routing by deployment name under `/openai/deployments/`, the
required `api-version` query parameter, the `api-key` header, content-filter annotations
(`prompt_filter_results` in replies and as a choice-less first stream chunk) and Azure's error bodies.

Behaviour by deployment name:
  content-filter     400 code content_filter (the prompt tripped Azure's content management policy)
  context-window     400 code context_length_exceeded
  error-429          429 with Azure's message and a retry-after header
  error-<status>     that status with an Azure error body
anything else is answered by the OpenAI fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from tests.fakes.asgi import Recorded, lifespan, read_request, replay, send_json
from tests.fakes.openai_upstream import FakeOpenAIApp, FakeState
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode
OPERATIONS = ("/chat/completions", "/completions", "/embeddings", "/images/generations", "/audio/speech")
API_VERSIONS = {"2024-02-01", "2024-06-01", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview"}
SAFE = {"filtered": False, "severity": "safe"}
FILTER_RESULTS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
PROMPT_FILTER_RESULTS = [{"prompt_index": 0, "content_filter_results": FILTER_RESULTS}]
CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read our "
    "documentation: https://go.microsoft.com/fwlink/?linkid=2198766")
CONTEXT_MESSAGE = ("This model's maximum context length is 128000 tokens. However, your messages resulted in 130017 "
                   "tokens. Please reduce the length of the messages.")


@dataclass
class AzureState:
    api_key: str
    requests: list[Recorded] = field(default_factory=list)


def _azure_error(status: int, deployment: str) -> tuple[dict, dict[str, str]]:
    if deployment == "content-filter":
        return {"error": {"message": CONTENT_FILTER_MESSAGE, "type": None, "param": "prompt", "code": "content_filter",
                          "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                              **FILTER_RESULTS, "jailbreak": {"filtered": True, "detected": True}}}}}, {}
    if deployment == "context-window":
        return {"error": {"message": CONTEXT_MESSAGE, "type": "invalid_request_error", "param": "messages",
                          "code": "context_length_exceeded"}}, {}
    if status == 429:
        return {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI "
                          "API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                          "Please retry after 7 seconds."}}, {"retry-after": "7"}
    return {"error": {"code": str(status), "message": f"Fake Azure error {status}"}}, {}


class FakeAzureApp:
    def __init__(self, state: AzureState) -> None:
        self.state = state
        self.openai = FakeOpenAIApp(FakeState(name="azure"))

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        request = await read_request(scope, receive)
        self.state.requests.append(request)
        if request.headers.get("api-key") != self.state.api_key:
            return await send_json(send, 401, {"error": {"code": "401", "message": (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
                "for an active subscription and use a correct regional API endpoint for your resource.")}})
        query = dict(pair.partition("=")[::2] for pair in request.query.split("&") if pair)
        if "api-version" not in query:
            return await send_json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
        if query["api-version"] not in API_VERSIONS:
            return await send_json(send, 400, {"error": {"code": "BadRequest", "message": "API version not supported"}})
        parts = request.path.split("/")  # /openai/deployments/{deployment}/{operation...}
        if len(parts) < 5 or parts[1:3] != ["openai", "deployments"]:
            return await send_json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
        deployment, operation = parts[3], "/" + "/".join(parts[4:])
        if deployment in ("content-filter", "context-window") or deployment.startswith("error-"):
            status = 400 if not deployment.startswith("error-") else int(deployment.split("-", 1)[1])
            payload, headers = _azure_error(status, deployment)
            return await send_json(send, status, payload, headers)
        if operation not in OPERATIONS:
            return await send_json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
        raw = request.raw_body
        if isinstance(request.body, dict) and "model" not in request.body:
            raw = _encode({**request.body, "model": deployment})  # Azure routes by URL; the OpenAI fake wants a model
        await self.openai({**scope, "path": "/v1" + operation}, replay(raw, receive), _annotating(send))


def _annotating(send):
    """Adds Azure's content-filter results: into JSON replies, and as a first chunk of choices-less SSE."""
    held: dict = {}

    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = dict(message["headers"])
            if headers.get(b"content-type", b"").startswith(b"text/event-stream") or message["status"] != 200:
                held["stream"] = message["status"] == 200
                return await send(message)
            held["start"] = message
            return None
        if held.pop("stream", False):
            first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                     "prompt_filter_results": PROMPT_FILTER_RESULTS}
            await send({"type": "http.response.body", "body": b"data: " + _encode(first) + b"\n\n", "more_body": True})
        if "start" in held:
            reply = msgspec.json.decode(message["body"])
            if "choices" in reply:
                reply["prompt_filter_results"] = PROMPT_FILTER_RESULTS
                for choice in reply["choices"]:
                    choice["content_filter_results"] = FILTER_RESULTS
            body = _encode(reply)
            start = held.pop("start")
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        return await send(message)

    return wrapped


class FakeAzure(ThreadedServer):
    def __init__(self, *, api_key: str) -> None:
        self.state = AzureState(api_key)
        super().__init__(FakeAzureApp(self.state), "azure")

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests
