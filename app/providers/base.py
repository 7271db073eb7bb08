"""What every provider adapter offers the gateway, and the shapes it hands back.

The gateway speaks OpenAI's chat format inside. An adapter takes an OpenAI-shaped request body
(already holding the deployment's upstream model name) and answers in OpenAI's shapes:

- `chat(...)` → an `UpstreamReply` whose body is an OpenAI `chat.completion` JSON object and whose
  `usage` is filled from the vendor's own counts (cached reads in `prompt_tokens_details.cached_tokens`,
  cache writes in `.cache_write_tokens`, both included in `prompt_tokens`; reasoning tokens in
  `completion_tokens_details.reasoning_tokens`, included in `completion_tokens`);
- `stream_chat(...)` → a `ChatStream` whose `events()` yields OpenAI `chat.completion.chunk` SSE events
  (`data: {...}\n\n`), then ONE usage-only chunk (`"choices": []`, `"usage": {...}`) when the vendor
  reported usage, then `data: [DONE]\n\n`; the gateway strips the usage chunk for clients that did not ask;
- `embeddings(...)` → an OpenAI `list` of `embedding` objects with usage.

Optional capabilities are plain methods an adapter may define (same signature; an adapter may also
declare `capabilities: frozenset[str]` when one class serves vendors with different sets, or
`capabilities_of(deployment) -> frozenset[str]` when it differs by model): `completions`,
`rerank`, `image_generation`, `audio_transcription`, `audio_speech`, `moderation`, and for native
pass-through `responses` / `stream_responses` (OpenAI Responses API) and `messages` / `stream_messages`
(Anthropic Messages API). A capability an adapter lacks is a 400 for the caller, never a 500.
Errors: raise `app.providers.errors.upstream_error(...)` / `transport_error(...)` results; adapters never
branch on another provider's name, and never log or return a credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol
from uuid import UUID

import httpx
import msgspec


class Deployment(msgspec.Struct, frozen=True):
    """One upstream behind an account's model name, with its credentials decrypted (memory only)."""

    id: UUID
    account_id: UUID
    model_name: str
    provider: str
    upstream_model: str
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    timeout: float | None = None
    input_cost_per_token: str | None = None
    output_cost_per_token: str | None = None
    params: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    rpm: int | None = None
    tpm: int | None = None
    max_parallel_requests: int | None = None
    max_output_tokens: int | None = None
    weight: int = 1
    stream_timeout: float | None = None  # longest silence allowed inside a stream
    limits: tuple = ()  # its own rpm / tpm / parallel limits (billing.plan.LevelSpec), resolved once at load

    def __repr__(self) -> str:  # credentials must never reach a log line through a repr
        return f"Deployment(id={self.id}, model_name={self.model_name!r}, provider={self.provider!r})"


def request_timeout(client: httpx.AsyncClient, deployment: Deployment, *, stream: bool = False) -> httpx.Timeout:
    """The shared client's timeout with the deployment's read timeout, if it sets one.

    A stream's read timeout is the longest silence between two chunks: `stream_timeout`, else `timeout`.
    """
    read = (deployment.stream_timeout if stream else None) or deployment.timeout
    if read is None:
        return client.timeout
    return httpx.Timeout(connect=client.timeout.connect, read=read, write=client.timeout.write,
                         pool=client.timeout.pool)


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: int | None = 0
    cache_write_tokens: int | None = 0  # not OpenAI's: filled by adapters of vendors that bill cache writes


class CompletionTokensDetails(msgspec.Struct):
    reasoning_tokens: int | None = 0


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class UpstreamReply(msgspec.Struct):
    """A whole (non-streamed) answer, already in OpenAI's wire format."""

    body: bytes
    usage: Usage | None
    media_type: str = "application/json"


class ChatStream(Protocol):
    """An open upstream stream, seen as OpenAI `chat.completion.chunk` SSE events (`data: ...\\n\\n`)."""

    def events(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Provider(Protocol):
    name: str

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply: ...

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> ChatStream: ...

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply: ...
