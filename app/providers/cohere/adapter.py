"""Cohere's v2 API: chat (`/v2/chat`, streamed or not), embeddings (`/v2/embed`) and rerank (`/v2/rerank`)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import msgspec

from app.lib.errors import GatewayError, InvalidRequest, UpstreamFailed
from app.providers.base import Deployment, UpstreamReply, Usage, request_timeout
from app.providers.cohere.chat_reply import CohereStream, chat_completion
from app.providers.cohere.chat_request import chat_body
from app.providers.cohere.wire import FAILED_FINISH_REASONS, EmbedResponse, ErrorBody, RerankResponse
from app.providers.errors import send_checked, upstream_error

_encode = msgspec.json.Encoder().encode
DEFAULT_API_BASE = "https://api.cohere.com"
# Cohere answers an invalid key with its own 498; the gateway treats it as the 401 it means.
STATUS_ALIASES = {498: 401}


def _error_of(response: httpx.Response, content: bytes, deployment: Deployment) -> GatewayError:
    status = STATUS_ALIASES.get(response.status_code, response.status_code)
    return upstream_error(status, content, deployment, retry_after=response.headers.get("retry-after"),
                          message=_message_of(content))


def _message_of(content: bytes) -> str | None:
    try:
        return msgspec.json.decode(content, type=ErrorBody).message
    except msgspec.DecodeError:
        return None


def _unreadable(deployment: Deployment) -> UpstreamFailed:
    return UpstreamFailed(f"cohere upstream for '{deployment.model_name}' sent an answer the gateway cannot read",
                          code="upstream_bad_response")


class Cohere:
    name = "cohere"
    capabilities = frozenset({"chat", "stream_chat", "embeddings", "rerank"})

    def _url(self, deployment: Deployment, path: str) -> httpx.URL:
        return httpx.URL((deployment.api_base or DEFAULT_API_BASE).rstrip("/") + path)

    async def _send(self, client: httpx.AsyncClient, deployment: Deployment, path: str, payload: dict[str, Any],
                    *, stream: bool = False) -> httpx.Response:
        headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
        if deployment.api_key:
            headers["authorization"] = f"Bearer {deployment.api_key}"
        request = client.build_request("POST", self._url(deployment, path), content=_encode(payload), headers=headers,
                                       timeout=request_timeout(client, deployment, stream=stream))
        return await send_checked(client, request, deployment, stream=stream, error_of=_error_of)

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        payload = chat_body(body, deployment.upstream_model, stream=False)
        response = await self._send(client, deployment, "/v2/chat", payload)
        try:
            reply, usage, cohere_finish = chat_completion(response.content, deployment.upstream_model)
        except msgspec.DecodeError:
            raise _unreadable(deployment) from None
        if cohere_finish in FAILED_FINISH_REASONS:
            raise UpstreamFailed(f"cohere upstream for '{deployment.model_name}' ended the generation with "
                                 f"{cohere_finish}", code="upstream_error")
        return UpstreamReply(body=_encode(reply), usage=usage)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> CohereStream:
        payload = chat_body(body, deployment.upstream_model, stream=True)
        response = await self._send(client, deployment, "/v2/chat", payload, stream=True)
        return CohereStream(response, deployment.upstream_model)

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise InvalidRequest("Cohere embeddings take 'input' as a string or an array of strings", param="input")
        payload: dict[str, Any] = {"model": deployment.upstream_model, "texts": texts,
                                   # Not an OpenAI field: callers embedding queries may say so.
                                   "input_type": body.get("input_type") or "search_document",
                                   "embedding_types": ["float"]}
        if body.get("dimensions"):
            payload["output_dimension"] = body["dimensions"]
        response = await self._send(client, deployment, "/v2/embed", payload)
        try:
            reply = msgspec.json.decode(response.content, type=EmbedResponse)
        except msgspec.DecodeError:
            raise _unreadable(deployment) from None
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": index,
                 "embedding": base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector}
                for index, vector in enumerate(reply.embeddings.floats)]
        billed = reply.meta.billed_units if reply.meta else None
        tokens = int(billed.input_tokens or 0) if billed else 0
        out = {"object": "list", "data": data, "model": deployment.upstream_model,
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return UpstreamReply(body=_encode(out), usage=Usage(prompt_tokens=tokens, total_tokens=tokens))

    async def rerank(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        """Cohere's own rerank shape in and out; usage counts search units as prompt tokens."""
        response = await self._send(client, deployment, "/v2/rerank", {**body, "model": deployment.upstream_model})
        content = response.content
        try:
            meta = msgspec.json.decode(content, type=RerankResponse).meta
        except msgspec.DecodeError:
            raise _unreadable(deployment) from None
        units = meta.billed_units.search_units if meta and meta.billed_units else None
        return UpstreamReply(body=content, usage=Usage(prompt_tokens=int(units or 0), total_tokens=int(units or 0)))
