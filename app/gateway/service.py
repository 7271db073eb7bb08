"""The data-plane flow: resolve the deployment, admit against limits, call the provider, relay,
settle, and hand usage to the workers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import anyio
from litestar import Response
from litestar.response import Stream

from app.auth.principal import Principal
from app.billing import plan, pricing, tokens
from app.billing.limits import Admission, from_units
from app.billing.pricing import TokenCounts
from app.billing.usage import UsageEvent
from app.gateway.requests import require_input, require_messages, require_model
from app.gateway.estimates import reply_text, streamed_text
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


def counts_of(usage: Usage | None) -> TokenCounts:
    if usage is None:
        return TokenCounts()
    details, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return TokenCounts(
        prompt=usage.prompt_tokens, completion=usage.completion_tokens,
        cached=(details.cached_tokens or 0) if details else 0,
        cache_write=(details.cache_write_tokens or 0) if details else 0,
        reasoning=(completion.reasoning_tokens or 0) if completion else 0,
    )


@dataclass
class _Call:
    """One logical request: who asked, for what, sent where; its request id is the ledger row's identity."""

    principal: Principal
    deployment: Deployment
    call_type: str
    model: str
    body: dict[str, Any]
    stream: bool = False
    request_id: str = field(default_factory=lambda: os.urandom(16).hex())
    started: float = field(default_factory=time.time)
    admission: Admission | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-request-id": self.request_id}
        if self.admission is not None:
            headers.update(self.admission.headers)
        return headers


class GatewayService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def _start(self, principal: Principal, body: dict[str, Any], call_type: str) -> _Call:
        model = require_model(body)
        deployment = await self.rt.catalog.pick(require_account(), model, principal.models)
        body["model"] = deployment.upstream_model
        call = _Call(principal, deployment, call_type, model, body, stream=bool(body.get("stream")))
        levels = plan.levels_for(principal.limits + deployment_limits(deployment))
        if levels:
            reserve = Decimal(0)
            if plan.has_budget(levels):
                sheet = pricing.sheet_for(deployment.provider, deployment.upstream_model,
                                          deployment.input_cost_per_token, deployment.output_cost_per_token)
                reserve = plan.reservation(sheet, body, call_type, deployment.max_output_tokens, principal.markup_percent)
            timeout = deployment.timeout or self.rt.settings.upstream_read_timeout
            call.admission = await self.rt.limiter.admit(call.request_id, levels, reserve, timeout)
        return call

    async def _finish(self, call: _Call, status: str, counts: TokenCounts, *, estimated: bool = False,
                      error_type: str | None = None) -> None:
        """Settle the admission with what the request really cost, then hand the usage event over."""
        deployment, principal = call.deployment, call.principal
        if call.admission is not None:
            sheet = pricing.sheet_for(deployment.provider, deployment.upstream_model,
                                      deployment.input_cost_per_token, deployment.output_cost_per_token)
            actual = pricing.charged(pricing.cost(sheet, counts), principal.markup_percent)
            await self.rt.limiter.settle(call.admission, actual, counts.prompt + counts.completion)
        REQUESTS.inc(call.call_type, deployment.model_name, status)
        admission = call.admission
        self.rt.usage.add(UsageEvent(
            request_id=call.request_id, account_id=str(principal.account_id), call_type=call.call_type,
            model=call.model, model_group=deployment.model_name, provider=deployment.provider,
            upstream_model=deployment.upstream_model, status=status, started_at=call.started, ended_at=time.time(),
            stream=call.stream, organization_id=_text(principal.organization_id), team_id=_text(principal.team_id),
            user_id=_text(principal.user_id), key_id=_text(principal.key_id), deployment_id=str(deployment.id),
            prompt_tokens=counts.prompt, completion_tokens=counts.completion, cached_tokens=counts.cached,
            cache_write_tokens=counts.cache_write, reasoning_tokens=counts.reasoning, usage_estimated=estimated, error_type=error_type,
            input_cost_per_token=deployment.input_cost_per_token, output_cost_per_token=deployment.output_cost_per_token,
            markup_percent=str(principal.markup_percent),
            budget_periods=admission.budget_periods if admission else {},
            budget_limits={level.level: str(from_units(level.budget_units)) for level in admission.levels
                           if level.budget_units is not None} if admission else {},
        ))

    async def _upstream(self, call: _Call, pending: Awaitable[T]) -> T:
        """Await the provider; a failure is still one usage row, and its answer carries the request id."""
        try:
            return await pending
        except GatewayError as exc:
            await self._finish(call, "error", TokenCounts(), error_type=exc.type)
            exc.headers.setdefault("x-request-id", call.request_id)
            raise
        except asyncio.CancelledError:
            # The server is cancelling this request: still free its slot and reservation, and log it.
            with anyio.CancelScope(shield=True):
                await self._finish(call, "client_disconnected", TokenCounts())
            raise

    async def chat_completion(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_messages(body)
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        call = await self._start(principal, body, "chat")
        provider = get_provider(call.deployment.provider)

        if not call.stream:
            reply = await self._upstream(call, provider.chat(self.rt.http, call.deployment, body))
            if reply.usage is not None:
                await self._finish(call, "success", counts_of(reply.usage))
            else:
                await self._finish(call, "success", _counted(body, reply_text(reply.body)), estimated=True)
            return Response(reply.body, media_type=_JSON, headers=call.headers)

        upstream = await self._upstream(call, provider.stream_chat(self.rt.http, call.deployment, body))

        async def on_end(usage: Usage | None, events: list[bytes], status: str) -> None:
            if usage is not None:
                await self._finish(call, status, counts_of(usage))
                return
            # The upstream never said (an older server, or the stream ended early): count ourselves.
            await self._finish(call, status, _counted(body, streamed_text(events)), estimated=True)

        return Stream(relay(upstream, strip_usage=not wants_usage, on_end=on_end), media_type="text/event-stream",
                      headers={**_SSE_HEADERS, **call.headers})

    async def embeddings(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_input(body)
        call = await self._start(principal, body, "embeddings")
        provider = get_provider(call.deployment.provider)
        reply = await self._upstream(call, provider.embeddings(self.rt.http, call.deployment, body))
        counts = counts_of(reply.usage) if reply.usage else TokenCounts(prompt=tokens.count_input(body.get("input")))
        await self._finish(call, "success", counts, estimated=reply.usage is None)
        return Response(reply.body, media_type=_JSON, headers=call.headers)

    async def list_models(self, principal: Principal) -> dict[str, Any]:
        groups = await self.rt.catalog.models_of(require_account())
        names = sorted(name for name in groups if principal.may_use_model(name))
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "alchemi"} for name in names],
        }


def _counted(body: dict[str, Any], generated: str) -> TokenCounts:
    return TokenCounts(prompt=tokens.count_messages(body.get("messages") or []), completion=tokens.count_text(generated))


def deployment_limits(deployment: Deployment) -> tuple[plan.LevelSpec, ...]:
    if deployment.rpm is None and deployment.tpm is None and deployment.max_parallel_requests is None:
        return ()
    return (plan.LevelSpec("deployment", str(deployment.id), rpm=deployment.rpm, tpm=deployment.tpm,
                           parallel=deployment.max_parallel_requests),)
