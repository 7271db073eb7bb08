"""The Anthropic adapter: OpenAI chat in and out over the Messages API, plus native pass-through
(`messages`, `stream_messages`, `count_tokens`) for the gateway's `/v1/messages` routes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import httpx
import msgspec

from app.lib.errors import GatewayError
from app.providers.anthropic.request import encode, to_anthropic
from app.providers.anthropic.response import to_chat_completion
from app.providers.anthropic.stream import AnthropicChatStream, AnthropicEventStream
from app.providers.anthropic.wire import decode_message, decode_token_count, decode_usage_only, error_of
from app.providers.base import Deployment, UpstreamReply, Usage, request_timeout
from app.providers.errors import send_checked, upstream_error

DEFAULT_API_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
# The context-window refusal Anthropic words differently from the shared hints in providers/errors.py.
# Generation settings count_tokens refuses ("max_tokens: Extra inputs are not permitted").
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier")


@lru_cache(maxsize=4096)
def _upstream_url(base: str, path: str) -> httpx.URL:
    # LiteLLM-style api_base values may already end in /v1 or /v1/messages: accept all three.
    base = base.rstrip("/").removesuffix("/messages").removesuffix("/v1")
    return httpx.URL(base + path)


def _usage_of(content: bytes) -> Usage | None:
    try:
        usage = decode_usage_only(content).usage
    except msgspec.DecodeError:
        return None
    return usage.as_openai() if usage is not None else None


class Anthropic:
    name = "anthropic"

    def _url(self, deployment: Deployment, path: str) -> httpx.URL:
        return _upstream_url(deployment.api_base or DEFAULT_API_BASE, path)

    def _headers(self, deployment: Deployment, beta: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if deployment.api_key:
            headers["x-api-key"] = deployment.api_key
        if beta:
            headers["anthropic-beta"] = beta
        return headers

    def _error(self, response: httpx.Response, content: bytes, deployment: Deployment) -> GatewayError:
        detail = error_of(content)
        message = detail.message if detail else None
        return upstream_error(response.status_code, content, deployment, message=message,
                              retry_after=response.headers.get("retry-after"))

    async def _send(self, client: httpx.AsyncClient, deployment: Deployment, path: str, body: dict[str, Any], *,
                    stream: bool = False, beta: str | None = None) -> httpx.Response:
        """The upstream response, already checked: an error answer is read, closed and raised."""
        request = client.build_request("POST", self._url(deployment, path), content=encode(body),
                                       headers=self._headers(deployment, beta),
                                       timeout=request_timeout(client, deployment, stream=stream))
        return await send_checked(client, request, deployment, stream=stream, error_of=self._error)

    # OpenAI chat in and out.

    def _messages_body(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        return to_anthropic(body, max_output_tokens=deployment.max_output_tokens)

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        upstream = self._messages_body(deployment, body)
        upstream.pop("stream", None)
        response = await self._send(client, deployment, MESSAGES, upstream)
        try:
            reply = decode_message(response.content)
        except msgspec.DecodeError:
            raise upstream_error(502, b"", deployment) from None
        return UpstreamReply(body=to_chat_completion(reply), usage=reply.usage.as_openai() if reply.usage else None)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment,
                          body: dict[str, Any]) -> AnthropicChatStream:
        upstream = self._messages_body(deployment, body)
        upstream["stream"] = True
        return AnthropicChatStream(await self._send(client, deployment, MESSAGES, upstream, stream=True))

    # Native Messages API: Anthropic's bodies in and out, unchanged (`model` already the upstream name).

    async def messages(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any], *,
                       beta: str | None = None) -> UpstreamReply:
        body = {name: value for name, value in body.items() if name != "stream"}  # streams: `stream_messages`
        response = await self._send(client, deployment, MESSAGES, body, beta=beta)
        content = response.content
        return UpstreamReply(body=content, usage=_usage_of(content))

    async def stream_messages(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any], *,
                              beta: str | None = None) -> AnthropicEventStream:
        body = {**body, "stream": True}
        return AnthropicEventStream(await self._send(client, deployment, MESSAGES, body, stream=True, beta=beta))

    async def count_tokens(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any], *,
                           beta: str | None = None) -> dict[str, int]:
        counted = {name: value for name, value in body.items() if name not in _NOT_COUNTED}
        response = await self._send(client, deployment, COUNT_TOKENS, counted, beta=beta)
        try:
            return {"input_tokens": decode_token_count(response.content).input_tokens}
        except msgspec.DecodeError:
            raise upstream_error(502, b"", deployment) from None
