"""Vertex AI (`vertex_ai/<model>`): Gemini models through `:generateContent`, Claude through `:rawPredict`,
text embeddings through `:predict`; every call signed by the deployment's service account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from app.lib.errors import InvalidRequest
from app.providers.anthropic.stream import AnthropicEventStream
from app.providers.base import ChatStream, Deployment, UpstreamReply, Usage
from app.providers.errors import upstream_error
from app.providers.gemini import calls
from app.providers.gemini.embeddings import embedding_list, input_texts
from app.providers.gemini.request import generate_content_request
from app.providers.gemini.response import chat_completion
from app.providers.gemini.stream import GeminiStream
from app.providers.gemini.wire import decode_response
from app.providers.vertex_ai import claude
from app.providers.vertex_ai.credentials import TokenRefused
from app.providers.vertex_ai.embeddings import decode_predict, predict_request, vectors_and_tokens
from app.providers.vertex_ai.endpoints import target_of

GOOGLE = "google"


@contextmanager
def _token_errors(deployment: Deployment) -> Iterator[None]:
    """A refused token exchange is the gateway's credential problem: never the caller's 4xx."""
    try:
        yield
    except TokenRefused as exc:
        raise upstream_error(exc.status, b"", deployment) from None


class VertexAI:
    name = "vertex_ai"

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        target = target_of(deployment)
        model = deployment.upstream_model
        with _token_errors(deployment):
            if claude.is_claude(model):
                return await claude.chat(client, deployment, target, body)
            content = await calls.post(client, deployment, target.url(GOOGLE, model, "generateContent"),
                                       generate_content_request(body, model), headers={}, auth=target.auth)
        reply, usage = chat_completion(calls.decoded(decode_response, content, deployment), model)
        return UpstreamReply(body=reply, usage=usage)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> ChatStream:
        target = target_of(deployment)
        model = deployment.upstream_model
        with _token_errors(deployment):
            if claude.is_claude(model):
                return await claude.stream_chat(client, deployment, target, body)
            url = target.url(GOOGLE, model, "streamGenerateContent?alt=sse")
            response = await calls.open_stream(client, deployment, url, generate_content_request(body, model),
                                               headers={}, auth=target.auth)
        return GeminiStream(response, model)

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        model = deployment.upstream_model
        if claude.is_claude(model):
            raise InvalidRequest(f"'{deployment.model_name}' does not make embeddings", param="model",
                                 code="unsupported_model")
        target = target_of(deployment)
        payload = predict_request(input_texts(body), body.get("dimensions"))
        with _token_errors(deployment):
            content = await calls.post(client, deployment, target.url(GOOGLE, model, "predict"), payload, headers={},
                                       auth=target.auth)
        vectors, tokens = vectors_and_tokens(calls.decoded(decode_predict, content, deployment))
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return UpstreamReply(body=embedding_list(vectors, model, body.get("encoding_format"), usage),
                             usage=Usage(prompt_tokens=tokens, total_tokens=tokens))

    # Native Anthropic Messages API, for Claude models only.

    def capabilities_of(self, deployment: Deployment) -> frozenset[str]:
        """Claude models speak chat and the Messages API; Gemini models chat and embeddings."""
        if claude.is_claude(deployment.upstream_model):
            return frozenset({"chat", "stream_chat", "messages", "stream_messages"})
        return frozenset({"chat", "stream_chat", "embeddings"})

    def _claude_only(self, deployment: Deployment) -> None:
        if not claude.is_claude(deployment.upstream_model):
            raise InvalidRequest(f"'{deployment.model_name}' does not speak the Anthropic Messages API", param="model",
                                 code="unsupported_model")

    async def messages(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any], *,
                       beta: str | None = None) -> UpstreamReply:
        self._claude_only(deployment)
        target = target_of(deployment)
        with _token_errors(deployment):
            return await claude.messages(client, deployment, target, body, beta)

    async def stream_messages(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any], *,
                              beta: str | None = None) -> AnthropicEventStream:
        self._claude_only(deployment)
        target = target_of(deployment)
        with _token_errors(deployment):
            return await claude.stream_messages(client, deployment, target, body, beta)
