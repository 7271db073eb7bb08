"""The Google AI (Generative Language) API: `gemini/<model>` with an API key."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx

from app.providers.base import Deployment, UpstreamReply
from app.providers.gemini import calls
from app.providers.gemini.embeddings import batch_embed_request, decode_batch, embedding_list
from app.providers.gemini.request import generate_content_request
from app.providers.gemini.response import chat_completion
from app.providers.gemini.stream import GeminiStream
from app.providers.gemini.wire import decode_response

DEFAULT_API_BASE = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"


@lru_cache(maxsize=4096)
def model_url(base: str, version: str, model: str, method: str) -> httpx.URL:
    return httpx.URL(f"{calls.versioned_base(base, version)}/models/{model}:{method}")


class Gemini:
    name = "gemini"

    def _url(self, deployment: Deployment, method: str) -> httpx.URL:
        return model_url(deployment.api_base or DEFAULT_API_BASE, deployment.api_version or DEFAULT_API_VERSION,
                         deployment.upstream_model, method)

    def _headers(self, deployment: Deployment) -> dict[str, str]:
        return {"x-goog-api-key": deployment.api_key} if deployment.api_key else {}

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        payload = generate_content_request(body, deployment.upstream_model)
        content = await calls.post(client, deployment, self._url(deployment, "generateContent"), payload,
                                   headers=self._headers(deployment))
        reply, usage = chat_completion(calls.decoded(decode_response, content, deployment), deployment.upstream_model)
        return UpstreamReply(body=reply, usage=usage)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> GeminiStream:
        payload = generate_content_request(body, deployment.upstream_model)
        url = self._url(deployment, "streamGenerateContent?alt=sse")  # cached, query included
        response = await calls.open_stream(client, deployment, url, payload, headers=self._headers(deployment))
        return GeminiStream(response, deployment.upstream_model)

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        payload = batch_embed_request(body, deployment.upstream_model)
        content = await calls.post(client, deployment, self._url(deployment, "batchEmbedContents"), payload,
                                   headers=self._headers(deployment))
        vectors = [embedding.values for embedding in calls.decoded(decode_batch, content, deployment).embeddings]
        # Gemini does not count embedding tokens: usage stays unknown and the gateway counts.
        return UpstreamReply(body=embedding_list(vectors, deployment.upstream_model, body.get("encoding_format")),
                             usage=None)
