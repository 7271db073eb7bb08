"""Azure OpenAI: OpenAI's bodies and streams, sent to a deployment URL with an `api-version` and an `api-key`.

Everything but the URL and the auth header is the OpenAI-compatible adapter's. Azure's streams open
with a chunk holding only `prompt_filter_results` (no choices, no usage); it is not OpenAI's format
and is dropped, so clients see the same chunks as from OpenAI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from app.lib.errors import InvalidRequest
from app.providers.base import Deployment
from app.providers.openai_compatible import CORE, OpenAICompatible, OpenAIStream, Preset

# Every OpenAI endpoint Azure serves under /openai/deployments/{deployment}/ (not Responses, not moderations).
PRESET = Preset("azure", None, auth_header="api-key",
                capabilities=CORE | {"image_generation", "audio_speech", "audio_transcription"})


class _FilterOnlyProbe(msgspec.Struct):
    choices: list[msgspec.Raw] = []
    usage: msgspec.Raw | None = None


_probe = msgspec.json.Decoder(_FilterOnlyProbe).decode


@lru_cache(maxsize=4096)
def _deployment_url(base: str, deployment: str, path: str, api_version: str) -> httpx.URL:
    return httpx.URL(f"{base.rstrip('/')}/openai/deployments/{quote(deployment, safe='')}{path}",
                     params={"api-version": api_version})


def _is_filter_only(event: bytes) -> bool:
    if b'"prompt_filter_results"' not in event or not event.startswith(b"data: {"):
        return False
    try:
        chunk = _probe(event[6:])
    except msgspec.DecodeError:
        return False
    return not chunk.choices and chunk.usage is None


class AzureStream:
    def __init__(self, inner: OpenAIStream) -> None:
        self._inner = inner

    async def events(self) -> AsyncIterator[bytes]:
        async for event in self._inner.events():
            if not _is_filter_only(event):
                yield event

    async def aclose(self) -> None:
        await self._inner.aclose()


class AzureOpenAI(OpenAICompatible):
    def __init__(self) -> None:
        super().__init__(PRESET)

    def _url(self, deployment: Deployment, path: str) -> httpx.URL:
        if not deployment.api_base:
            raise InvalidRequest(f"The Azure deployment for '{deployment.model_name}' has no 'api_base' "
                                 "(https://<resource>.openai.azure.com)", code="deployment_misconfigured")
        if not deployment.api_version:
            raise InvalidRequest(f"The Azure deployment for '{deployment.model_name}' has no 'api_version' "
                                 "(e.g. 2024-10-21)", code="deployment_misconfigured")
        return _deployment_url(deployment.api_base, deployment.upstream_model, path, deployment.api_version)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> AzureStream:
        return AzureStream(await super().stream_chat(client, deployment, body))

    async def stream_completions(self, client: httpx.AsyncClient, deployment: Deployment,
                                 body: dict[str, Any]) -> AzureStream:
        return AzureStream(await super().stream_completions(client, deployment, body))
