"""Anthropic's Claude on Vertex AI: a Messages API body (no `model`, `anthropic_version` in the body) sent to
`:rawPredict` / `:streamRawPredict`. The OpenAI ⇄ Anthropic mapping is the anthropic package's own."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from app.providers.anthropic.request import to_anthropic
from app.providers.anthropic.response import to_chat_completion
from app.providers.anthropic.stream import AnthropicChatStream, AnthropicEventStream
from app.providers.anthropic.wire import decode_message, decode_usage_only
from app.providers.base import Deployment, UpstreamReply, Usage
from app.providers.gemini import calls
from app.providers.vertex_ai.endpoints import Target

ANTHROPIC_VERSION = "vertex-2023-10-16"
PUBLISHER = "anthropic"


def is_claude(model: str) -> bool:
    return model.startswith("claude")


def vertex_body(body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """A Messages API body as Vertex takes it: the model is in the URL, the version in the body."""
    out = {name: value for name, value in body.items() if name not in ("model", "stream")}
    out["anthropic_version"] = ANTHROPIC_VERSION
    if stream:
        out["stream"] = True
    return out


def _headers(beta: str | None) -> dict[str, str]:
    return {"anthropic-beta": beta} if beta else {}


def _usage_of(content: bytes) -> Usage | None:
    try:
        usage = decode_usage_only(content).usage
    except msgspec.DecodeError:
        return None
    return usage.as_openai() if usage is not None else None


async def chat(client: httpx.AsyncClient, deployment: Deployment, target: Target, body: dict[str, Any]) -> UpstreamReply:
    payload = vertex_body(to_anthropic(body, max_output_tokens=deployment.max_output_tokens), stream=False)
    url = target.url(PUBLISHER, deployment.upstream_model, "rawPredict")
    content = await calls.post(client, deployment, url, payload, headers={}, auth=target.auth)
    reply = calls.decoded(decode_message, content, deployment)
    return UpstreamReply(body=to_chat_completion(reply), usage=reply.usage.as_openai() if reply.usage else None)


async def stream_chat(client: httpx.AsyncClient, deployment: Deployment, target: Target,
                      body: dict[str, Any]) -> AnthropicChatStream:
    payload = vertex_body(to_anthropic(body, max_output_tokens=deployment.max_output_tokens), stream=True)
    url = target.url(PUBLISHER, deployment.upstream_model, "streamRawPredict")
    return AnthropicChatStream(await calls.open_stream(client, deployment, url, payload, headers={}, auth=target.auth))


async def messages(client: httpx.AsyncClient, deployment: Deployment, target: Target, body: dict[str, Any],
                   beta: str | None) -> UpstreamReply:
    url = target.url(PUBLISHER, deployment.upstream_model, "rawPredict")
    content = await calls.post(client, deployment, url, vertex_body(body, stream=False), headers=_headers(beta),
                               auth=target.auth)
    return UpstreamReply(body=content, usage=_usage_of(content))


async def stream_messages(client: httpx.AsyncClient, deployment: Deployment, target: Target, body: dict[str, Any],
                          beta: str | None) -> AnthropicEventStream:
    url = target.url(PUBLISHER, deployment.upstream_model, "streamRawPredict")
    response = await calls.open_stream(client, deployment, url, vertex_body(body, stream=True), headers=_headers(beta),
                                       auth=target.auth)
    return AnthropicEventStream(response)
