"""The data-plane flow: route to a deployment (retries, fallbacks), admit against limits, call the
provider, relay, settle, and hand usage to the workers — one usage row per logical request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import anyio
from litestar import Response
from litestar.response import Stream

from app.auth.principal import Principal
from app.billing import plan, pricing, tokens
from app.billing.limits import Admission
from app.billing.pricing import TokenCounts
from app.billing.usage import UsageEvent
from app.gateway.estimates import reply_text, streamed_text
from app.gateway.requests import require_input, require_messages, require_model
from app.gateway.streaming import relay
from app.guardrails.gateway import screen_request
from app.lib.errors import GatewayError, InvalidRequest
from app.lib.metrics import FIRST_TOKEN_SECONDS, REQUEST_SECONDS, REQUESTS, SPEND, TOKENS, count_error
from app.lib import request_context
from app.providers.base import Deployment, Provider, Usage
from app.providers.registry import get_provider
from app.runtime import Runtime
from app.tenancy.context import require_account

T = TypeVar("T")
_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
Invoke = Callable[[Provider, Deployment, dict[str, Any]], Awaitable[T]]


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
    """One logical request: who asked for what, and (once routed) which deployment answers it.
    Its request id is the ledger row's identity, whatever number of attempts it took."""

    principal: Principal
    call_type: str
    model: str
    stream: bool = False
    deployment: Deployment | None = None
    admission: Admission | None = None
    # The HTTP request's id (app/lib/request_context.py; a client's own id is made unique by the controllers).
    request_id: str = field(default_factory=lambda: request_context.request_id() or request_context.new_request_id())
    started: float = field(default_factory=time.time)
    attempt_started: float = 0.0
    upstream_tried: bool = False

    def first_chunk(self) -> None:
        """The first content chunk of a stream is on its way to the client: time to first token."""
        if self.deployment is not None:
            FIRST_TOKEN_SECONDS.observe(time.time() - self.started, self.call_type, self.deployment.model_name)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-request-id": self.request_id}
        if self.admission is not None:
            headers.update(self.admission.headers)
        return headers


class GatewayService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def _admit(self, call: _Call, deployment: Deployment, body: dict[str, Any]) -> None:
        """One Redis round trip over every level of the caller and the deployment (none when unlimited)."""
        principal = call.principal
        levels = plan.levels_for(principal.limits + deployment.limits)
        if not levels:
            call.admission = None
            return
        reserve = Decimal(0)
        if plan.has_budget(levels):
            sheet = pricing.sheet_for(deployment.provider, deployment.upstream_model,
                                      deployment.input_cost_per_token, deployment.output_cost_per_token)
            reserve = plan.reservation(sheet, body, call.call_type, deployment.max_output_tokens,
                                       principal.markup_percent)
        timeout = deployment.timeout or self.rt.settings.upstream_read_timeout
        call.admission = await self.rt.limiter.admit(call.request_id, levels, reserve, timeout)

    async def _run(self, call: _Call, body: dict[str, Any], capability: str | None, invoke: Invoke[T]) -> T:
        """Try deployments as the router says until one answers; a refusal by the limits is final.
        `capability` None: `invoke` chooses how to call each provider itself."""
        models = await self.rt.catalog.models_of(require_account())
        attempts = self.rt.router.attempts(models.groups, models.settings, call.model, call.principal.models)
        health = self.rt.router.health
        try:
            async for deployment in attempts:
                attempt_body = {**body, "model": deployment.upstream_model}
                call.deployment = deployment
                await self._admit(call, deployment, attempt_body)
                call.attempt_started = health.started(str(deployment.id))
                call.upstream_tried = True
                try:
                    result = await invoke(self._provider(deployment, capability), deployment, attempt_body)
                except GatewayError as exc:
                    health.ended(str(deployment.id))
                    await attempts.failed(deployment, exc)  # raises when no further attempt can help
                    if call.admission is not None:
                        await self.rt.limiter.settle(call.admission, Decimal(0), 0, refund=True)
                    continue
                except asyncio.CancelledError:
                    # The server is cancelling this request: still free its slot and reservation, and log it.
                    health.ended(str(deployment.id))
                    with anyio.CancelScope(shield=True):
                        await self._finish(call, "client_disconnected", TokenCounts())
                    raise
                except Exception:
                    # A fault of ours (an adapter bug), not an upstream answer: still free the slot and the
                    # reservation and leave a usage row, then let it surface as a 500.
                    health.ended(str(deployment.id))
                    with anyio.CancelScope(shield=True):
                        await self._finish(call, "error", TokenCounts(), error_type="internal_error")
                    raise
                if not call.stream:
                    health.ended(str(deployment.id))
                    await health.succeeded(str(deployment.id), call.attempt_started)
                return result
        except GatewayError as exc:
            # The request failed for good. Refusals before any upstream call (unknown model, limits) leave
            # no usage row; an upstream failure leaves one, with the last deployment tried.
            if call.upstream_tried:
                await self._finish(call, "error", TokenCounts(), error_type=exc.type)
            # Counted here, with the model group once routed; the request id marks it as counted.
            count_error(call.call_type, call.deployment.model_name if call.deployment else "", exc.type, exc.code)
            exc.headers.setdefault("x-request-id", call.request_id)
            raise
        raise AssertionError("the router ends with an error, never silently")

    def _provider(self, deployment: Deployment, capability: str | None) -> Provider:
        provider = get_provider(deployment.provider)
        if capability is not None and not supports(provider, capability, deployment):
            raise InvalidRequest(f"The '{deployment.provider}' provider of model '{deployment.model_name}' does not "
                                 f"support {capability.replace('_', ' ')}", param="model", code="unsupported_capability")
        return provider

    async def _finish(self, call: _Call, status: str, counts: TokenCounts, *, estimated: bool = False,
                      error_type: str | None = None) -> None:
        """Settle the admission with what the request really cost, then hand the usage event over."""
        deployment, principal, admission = call.deployment, call.principal, call.admission
        assert deployment is not None
        sheet = pricing.sheet_for(deployment.provider, deployment.upstream_model,
                                  deployment.input_cost_per_token, deployment.output_cost_per_token)
        actual = pricing.charged(pricing.cost(sheet, counts), principal.markup_percent)
        if admission is not None:
            await self.rt.limiter.settle(admission, actual, counts.prompt + counts.completion)
        ended, group = time.time(), deployment.model_name
        REQUESTS.inc(call.call_type, group, status)
        REQUEST_SECONDS.observe(ended - call.started, call.call_type, group)
        TOKENS.inc(call.call_type, group, "prompt", amount=counts.prompt)
        TOKENS.inc(call.call_type, group, "completion", amount=counts.completion)
        SPEND.inc(call.call_type, group, amount=float(actual))
        self.rt.usage.add(UsageEvent(
            request_id=call.request_id, account_id=str(principal.account_id), call_type=call.call_type,
            model=call.model, model_group=deployment.model_name, provider=deployment.provider,
            upstream_model=deployment.upstream_model, status=status, started_at=call.started, ended_at=ended,
            stream=call.stream, organization_id=_text(principal.organization_id), team_id=_text(principal.team_id),
            user_id=_text(principal.user_id), key_id=_text(principal.key_id), deployment_id=str(deployment.id),
            prompt_tokens=counts.prompt, completion_tokens=counts.completion, cached_tokens=counts.cached,
            cache_write_tokens=counts.cache_write, reasoning_tokens=counts.reasoning, usage_estimated=estimated,
            error_type=error_type, input_cost_per_token=deployment.input_cost_per_token,
            output_cost_per_token=deployment.output_cost_per_token, markup_percent=str(principal.markup_percent),
            budget_periods=admission.budget_periods if admission else {},
            budget_limits=admission.budget_limits if admission else {},
        ))

    async def chat_completion(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_messages(body)
        return await self._completion(principal, body, "chat", "chat", "stream_chat")

    async def text_completion(self, principal: Principal, body: dict[str, Any]) -> Response:
        if not isinstance(body.get("prompt"), (str, list)):
            raise InvalidRequest("'prompt' is required", param="prompt", code="missing_required_parameter")
        return await self._completion(principal, body, "completion", "completions", "stream_completions")

    async def _completion(self, principal: Principal, body: dict[str, Any], call_type: str, capability: str,
                          stream_capability: str) -> Response:
        call = _Call(principal, call_type, require_model(body), stream=bool(body.get("stream")))
        guard = await screen_request(call, body)  # before routing and admission: a blocked request costs nothing

        if not call.stream:
            reply = await self._run(call, body, capability,
                                    lambda p, d, b: getattr(p, capability)(self.rt.http, d, b))
            if reply.usage is not None:
                await self._finish(call, "success", counts_of(reply.usage))
            else:
                await self._finish(call, "success", _counted(body, reply_text(reply.body)), estimated=True)
            return Response(guard.reply(reply.body, call_type), media_type=_JSON, headers=call.headers)

        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        upstream = await self._run(call, body, stream_capability,
                                   lambda p, d, b: getattr(p, stream_capability)(self.rt.http, d, b))

        async def on_end(usage: Usage | None, events: list[bytes], status: str) -> None:
            await self._stream_ended(call, body, usage, status, events)

        return Stream(guard.stream(relay(upstream, strip_usage=not wants_usage, on_end=on_end,
                                         on_first_chunk=call.first_chunk), call_type),
                      media_type="text/event-stream", headers={**_SSE_HEADERS, **call.headers})

    async def _stream_ended(self, call: _Call, body: dict[str, Any], usage: Usage | None, status: str,
                            events: list[bytes]) -> None:
        """A relayed stream is over: the deployment's health hears of it, then the request is settled
        and recorded — with the upstream's usage, or tokens counted here when it reported none."""
        assert call.deployment is not None
        health = self.rt.router.health
        health.ended(str(call.deployment.id))
        if status == "success":
            await health.succeeded(str(call.deployment.id), call.attempt_started)
        elif status == "error":  # the answer had started (200): the stream broke, the client saw an error event
            count_error(call.call_type, call.deployment.model_name, "api_error", "upstream_stream_error")
        if usage is not None:
            await self._finish(call, status, counts_of(usage))
        else:
            await self._finish(call, status, _counted(body, streamed_text(events)), estimated=True)

    async def embeddings(self, principal: Principal, body: dict[str, Any]) -> Response:
        require_input(body)
        call = _Call(principal, "embeddings", require_model(body))
        await screen_request(call, body)
        reply = await self._run(call, body, "embeddings", lambda p, d, b: p.embeddings(self.rt.http, d, b))
        counts = counts_of(reply.usage) if reply.usage else TokenCounts(prompt=tokens.count_input(body.get("input")))
        await self._finish(call, "success", counts, estimated=reply.usage is None)
        return Response(reply.body, media_type=_JSON, headers=call.headers)

    async def forward(self, principal: Principal, body: dict[str, Any], capability: str) -> Response:
        """Endpoints the gateway passes to vendors that have them (images, audio, moderations, rerank):
        routed, limited and recorded like chat; tokens when the vendor reports them."""
        call = _Call(principal, capability, require_model(body))
        reply = await self._run(call, body, capability, lambda p, d, b: getattr(p, capability)(self.rt.http, d, b))
        await self._finish(call, "success", counts_of(reply.usage))
        return Response(reply.body, media_type=reply.media_type, headers=call.headers)

    async def list_models(self, principal: Principal) -> dict[str, Any]:
        models = await self.rt.catalog.models_of(require_account())
        names = sorted(name for name in models.groups if principal.may_use_model(name))
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "alchemi"} for name in names],
        }


def supports(provider: Provider, capability: str, deployment: Deployment | None = None) -> bool:
    """Whether the provider (for this deployment's model, when it says per model) offers `capability`."""
    per_model = getattr(provider, "capabilities_of", None)
    if per_model is not None and deployment is not None:
        return capability in per_model(deployment)
    declared = getattr(provider, "capabilities", None)
    return capability in declared if declared is not None else callable(getattr(provider, capability, None))


def _counted(body: dict[str, Any], generated: str) -> TokenCounts:
    prompt = (tokens.count_messages(body["messages"]) if isinstance(body.get("messages"), list)
              else tokens.count_input(body.get("prompt")))
    return TokenCounts(prompt=prompt, completion=tokens.count_text(generated))
