"""The data-plane flow: resolve the deployment, call the provider, relay, and hand usage to the workers."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from litestar import Response
from litestar.response import Stream

from app.auth.principal import Principal
from app.billing.usage import UsageEvent
from app.gateway.requests import require_input, require_messages, require_model
from app.gateway.streaming import relay
from app.lib.errors import GatewayError
from app.lib.metrics import REQUESTS
from app.providers.base import Deployment, Usage
from app.providers.registry import get_provider
from app.runtime import Runtime
from app.tenancy.context import require_account

T = TypeVar("T")
_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _estimate_prompt_tokens(body: dict[str, Any]) -> int:
    # Only used when a stream ended before the upstream reported usage: ~4 characters a token.
    return max(len(msgspec.json.encode(body.get("messages") or body.get("input") or "")) // 4, 1)


@dataclass
class _Call:
    """One logical request: who asked, for what, sent where; its request id is the ledger row's identity."""

    principal: Principal
    deployment: Deployment
    call_type: str
    model: str
    stream: bool = False
    request_id: str = field(default_factory=lambda: os.urandom(16).hex())
    started: float = field(default_factory=time.time)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-request-id": self.request_id}


class GatewayService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _record(self, call: _Call, status: str, usage: Usage | None, *, error_type: str | None = None,
                estimated: tuple[int, int] | None = None) -> None:
        prompt = completion = cached = reasoning = 0
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
            reasoning = (usage.completion_tokens_details.reasoning_tokens or 0) if usage.completion_tokens_details else 0
        elif estimated is not None:
            prompt, completion = estimated
        deployment, principal = call.deployment, call.principal
        REQUESTS.inc(call.call_type, deployment.model_name, status)
        self.rt.usage.add(UsageEvent(
            request_id=call.request_id, account_id=str(principal.account_id), call_type=call.call_type,
            model=call.model, model_group=deployment.model_name, provider=deployment.provider,
            upstream_model=deployment.upstream_model, status=status, started_at=call.started, ended_at=time.time(),
            stream=call.stream, organization_id=_text(principal.organization_id), team_id=_text(principal.team_id),
            user_id=_text(principal.user_id), key_id=_text(principal.key_id), deployment_id=str(deployment.id),
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached, reasoning_tokens=reasoning,
            usage_estimated=usage is None and estimated is not None, error_type=error_type,
            input_cost_per_token=deployment.input_cost_per_token, output_cost_per_token=deployment.output_cost_per_token,
        ))

    async def _upstream(self, call: _Call, pending: Awaitable[T]) -> T:
        """Await the provider; a failure is still one usage row, and its answer carries the request id."""
        try:
            return await pending
        except GatewayError as exc:
            self._record(call, "error", None, error_type=exc.type)
            exc.headers.setdefault("x-request-id", call.request_id)
            raise

    async def _start(self, principal: Principal, body: dict[str, Any], call_type: str) -> _Call:
        model = require_model(body)
        deployment = await self.rt.catalog.pick(require_account(), model, principal.models)
        body["model"] = deployment.upstream_model
        return _Call(principal, deployment, call_type, model, stream=bool(body.get("stream")))

    async def chat_completion(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_messages(body)
        call = await self._start(principal, body, "chat")
        provider = get_provider(call.deployment.provider)

        if not call.stream:
            reply = await self._upstream(call, provider.chat(self.rt.http, call.deployment, body))
            self._record(call, "success", reply.usage)
            return Response(reply.body, media_type=_JSON, headers=call.headers)

        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        upstream = await self._upstream(call, provider.stream_chat(self.rt.http, call.deployment, body))

        def on_end(usage: Usage | None, chunks: int, status: str) -> None:
            self._record(call, status, usage, estimated=(_estimate_prompt_tokens(body), chunks))

        return Stream(relay(upstream, strip_usage=not wants_usage, on_end=on_end), media_type="text/event-stream",
                      headers={**_SSE_HEADERS, **call.headers})

    async def embeddings(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_input(body)
        call = await self._start(principal, body, "embeddings")
        provider = get_provider(call.deployment.provider)
        reply = await self._upstream(call, provider.embeddings(self.rt.http, call.deployment, body))
        self._record(call, "success", reply.usage)
        return Response(reply.body, media_type=_JSON, headers=call.headers)

    async def list_models(self, principal: Principal) -> dict[str, Any]:
        groups = await self.rt.catalog.models_of(require_account())
        names = sorted(name for name in groups if principal.may_use_model(name))
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "alchemi"} for name in names],
        }
