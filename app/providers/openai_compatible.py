"""The shared base for every vendor that speaks OpenAI's API: only the preset (data) differs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import httpx
import msgspec

from app.providers.base import (
    CompletionTokensDetails,
    Deployment,
    PromptTokensDetails,
    UpstreamReply,
    Usage,
    request_timeout,
)
from app.providers.errors import send_checked
from app.providers.sse import sse_events

_encode = msgspec.json.Encoder().encode


class _UsageEnvelope(msgspec.Struct):
    usage: Usage | None = None


_decode_usage = msgspec.json.Decoder(_UsageEnvelope).decode


CORE = frozenset({"chat", "stream_chat", "embeddings", "completions", "stream_completions"})
# OpenAI's own API has every endpoint the gateway serves.
EVERYTHING = CORE | {"responses", "stream_responses", "image_generation", "audio_speech", "audio_transcription",
                     "moderation"}


class Preset(msgspec.Struct, frozen=True):
    name: str
    default_api_base: str | None
    auth_header: str = "authorization"  # "authorization" → `Bearer <key>`; anything else carries the key as is
    requires_api_key: bool = True
    capabilities: frozenset[str] = CORE


@lru_cache(maxsize=4096)
def _upstream_url(base: str, path: str) -> httpx.URL:
    # Parsing a URL costs more than the rest of building the request: do it once per upstream.
    return httpx.URL(base.rstrip("/") + path)


class _ResponsesUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    input_tokens_details: dict | None = None
    output_tokens_details: dict | None = None


class _ResponsesEnvelope(msgspec.Struct):
    usage: _ResponsesUsage | None = None


_decode_responses = msgspec.json.Decoder(_ResponsesEnvelope).decode


def responses_usage_of(body: bytes) -> Usage | None:
    """Usage of a Responses API object (input/output tokens) in the gateway's chat terms."""
    try:
        usage = _decode_responses(body).usage
    except msgspec.DecodeError:
        return None
    if usage is None:
        return None
    cached = (usage.input_tokens_details or {}).get("cached_tokens") or 0
    reasoning = (usage.output_tokens_details or {}).get("reasoning_tokens") or 0
    return Usage(prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens,
                 total_tokens=usage.input_tokens + usage.output_tokens,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
                 completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning))


def usage_of(body: bytes) -> Usage | None:
    try:
        return _decode_usage(body).usage
    except msgspec.DecodeError:
        return None


class OpenAIStream:
    """Relays upstream SSE as whole events; the HTTP response stays open until `aclose`."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def events(self) -> AsyncIterator[bytes]:
        return sse_events(self._response)

    async def aclose(self) -> None:
        await self._response.aclose()


class OpenAICompatible:
    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self.name = preset.name
        self.capabilities = preset.capabilities

    def _url(self, deployment: Deployment, path: str) -> httpx.URL:
        return _upstream_url(deployment.api_base or self.preset.default_api_base or "", path)

    def _headers(self, deployment: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if deployment.api_key:
            if self.preset.auth_header == "authorization":
                headers["authorization"] = f"Bearer {deployment.api_key}"
            else:
                headers[self.preset.auth_header] = deployment.api_key
        return headers

    async def _post(self, client: httpx.AsyncClient, deployment: Deployment, path: str, body: dict[str, Any]) -> UpstreamReply:
        request = client.build_request("POST", self._url(deployment, path), content=_encode(body),
                                       headers=self._headers(deployment), timeout=request_timeout(client, deployment))
        content = (await send_checked(client, request, deployment)).content
        return UpstreamReply(body=content, usage=usage_of(content))

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        return await self._post(client, deployment, "/chat/completions", body)

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        return await self._post(client, deployment, "/embeddings", body)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> OpenAIStream:
        # Always ask for the usage chunk: it is what we bill from. The gateway strips it again
        # when the client did not ask for it.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return await self._open_stream(client, deployment, "/chat/completions", body)

    async def completions(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        return await self._post(client, deployment, "/completions", body)

    async def stream_completions(self, client: httpx.AsyncClient, deployment: Deployment,
                                 body: dict[str, Any]) -> OpenAIStream:
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return await self._open_stream(client, deployment, "/completions", body)

    async def responses(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        reply = await self._post(client, deployment, "/responses", body)
        return UpstreamReply(body=reply.body, usage=responses_usage_of(reply.body))

    async def stream_responses(self, client: httpx.AsyncClient, deployment: Deployment,
                               body: dict[str, Any]) -> OpenAIStream:
        return await self._open_stream(client, deployment, "/responses", body)

    async def image_generation(self, client: httpx.AsyncClient, deployment: Deployment,
                               body: dict[str, Any]) -> UpstreamReply:
        return await self._post(client, deployment, "/images/generations", body)

    async def moderation(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        return await self._post(client, deployment, "/moderations", body)

    async def audio_speech(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        reply, media_type = await self._send(client, deployment, client.build_request(
            "POST", self._url(deployment, "/audio/speech"), content=_encode(body), headers=self._headers(deployment),
            timeout=request_timeout(client, deployment)))
        return UpstreamReply(body=reply, usage=None, media_type=media_type)

    async def audio_transcription(self, client: httpx.AsyncClient, deployment: Deployment,
                                  body: dict[str, Any]) -> UpstreamReply:
        """`body`: the form fields, with `file` as (filename, bytes, content type); sent on as multipart."""
        fields = {k: v for k, v in body.items() if k != "file"}
        headers = {k: v for k, v in self._headers(deployment).items() if k != "content-type"}
        request = client.build_request("POST", self._url(deployment, "/audio/transcriptions"),
                                       data={k: str(v) for k, v in fields.items()}, files={"file": body["file"]},
                                       headers=headers, timeout=request_timeout(client, deployment))
        content, media_type = await self._send(client, deployment, request)
        return UpstreamReply(body=content, usage=usage_of(content) if media_type.startswith("application/json") else None,
                             media_type=media_type)

    async def _send(self, client: httpx.AsyncClient, deployment: Deployment, request: httpx.Request) -> tuple[bytes, str]:
        response = await send_checked(client, request, deployment)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    async def _open_stream(self, client: httpx.AsyncClient, deployment: Deployment, path: str,
                           body: dict[str, Any]) -> OpenAIStream:
        request = client.build_request("POST", self._url(deployment, path), content=_encode(body),
                                       headers=self._headers(deployment),
                                       timeout=request_timeout(client, deployment, stream=True))
        return OpenAIStream(await send_checked(client, request, deployment, stream=True))


PRESETS = (
    Preset("openai", "https://api.openai.com/v1", capabilities=EVERYTHING),
    Preset("groq", "https://api.groq.com/openai/v1"),
    Preset("mistral", "https://api.mistral.ai/v1"),
    Preset("deepseek", "https://api.deepseek.com/v1"),
    Preset("together_ai", "https://api.together.xyz/v1"),
    Preset("fireworks_ai", "https://api.fireworks.ai/inference/v1"),
    Preset("openrouter", "https://openrouter.ai/api/v1"),
    Preset("xai", "https://api.x.ai/v1"),
    Preset("perplexity", "https://api.perplexity.ai"),
    Preset("ollama", "http://127.0.0.1:11434/v1", requires_api_key=False),
    Preset("hosted_vllm", None, requires_api_key=False),
)

PROVIDERS = {preset.name: OpenAICompatible(preset) for preset in PRESETS}
