"""The data-plane flow: resolve the deployment, call the provider, relay, and hand usage to the workers."""

from __future__ import annotations

import time
import uuid
from typing import Any

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

_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _ids(principal: Principal) -> dict[str, str | None]:
    def text(value: uuid.UUID | None) -> str | None:
        return str(value) if value is not None else None

    return {
        "account_id": str(principal.account_id),
        "organization_id": text(principal.organization_id),
        "team_id": text(principal.team_id),
        "user_id": text(principal.user_id),
        "key_id": text(principal.key_id),
    }


def _estimate_prompt_tokens(body: dict[str, Any]) -> int:
    # Only used when a stream ended before the upstream reported usage: ~4 characters a token.
    return max(len(msgspec.json.encode(body.get("messages") or body.get("input") or "")) // 4, 1)


class GatewayService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _record(self, *, request_id: str, principal: Principal, deployment: Deployment, call_type: str, model: str,
                started: float, status: str, usage: Usage | None, stream: bool = False,
                error_type: str | None = None, estimated: tuple[int, int] | None = None) -> None:
        prompt, completion, cached, reasoning = 0, 0, 0, 0
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
            reasoning = (usage.completion_tokens_details.reasoning_tokens or 0) if usage.completion_tokens_details else 0
        elif estimated is not None:
            prompt, completion = estimated
        REQUESTS.inc(call_type, deployment.model_name, status)
        self.rt.usage.add(UsageEvent(
            request_id=request_id, call_type=call_type, model=model, model_group=deployment.model_name,
            provider=deployment.provider, upstream_model=deployment.upstream_model, status=status,
            started_at=started, ended_at=time.time(), stream=stream, deployment_id=str(deployment.id),
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached, reasoning_tokens=reasoning,
            usage_estimated=usage is None and estimated is not None, error_type=error_type,
            input_cost_per_token=deployment.input_cost_per_token, output_cost_per_token=deployment.output_cost_per_token,
            **_ids(principal),
        ))

    async def _deployment(self, principal: Principal, model: str) -> Deployment:
        return await self.rt.catalog.pick(require_account(), model, principal.models)

    async def chat_completion(self, principal: Principal, body: dict[str, Any]) -> Response:
        model = require_model(body)
        require_messages(body)
        deployment = await self._deployment(principal, model)
        provider = get_provider(deployment.provider)
        request_id = uuid.uuid4().hex
        started = time.time()
        body["model"] = deployment.upstream_model
        headers = {"x-request-id": request_id}

        if not body.get("stream"):
            try:
                reply = await provider.chat(self.rt.http, deployment, body)
            except GatewayError as exc:
                self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="chat",
                             model=model, started=started, status="error", usage=None, error_type=exc.type)
                exc.headers.setdefault("x-request-id", request_id)
                raise
            self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="chat",
                         model=model, started=started, status="success", usage=reply.usage)
            return Response(reply.body, media_type=_JSON, headers=headers)

        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            upstream = await provider.stream_chat(self.rt.http, deployment, body)
        except GatewayError as exc:
            self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="chat",
                         model=model, started=started, status="error", usage=None, stream=True, error_type=exc.type)
            exc.headers.setdefault("x-request-id", request_id)
            raise

        def on_end(usage: Usage | None, chunks: int, status: str) -> None:
            self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="chat",
                         model=model, started=started, status=status, usage=usage, stream=True,
                         estimated=(_estimate_prompt_tokens(body), chunks))

        return Stream(relay(upstream, strip_usage=not wants_usage, on_end=on_end), media_type="text/event-stream",
                      headers={**_SSE_HEADERS, **headers})

    async def embeddings(self, principal: Principal, body: dict[str, Any]) -> Response:
        model = require_model(body)
        require_input(body)
        deployment = await self._deployment(principal, model)
        provider = get_provider(deployment.provider)
        request_id = uuid.uuid4().hex
        started = time.time()
        body["model"] = deployment.upstream_model
        try:
            reply = await provider.embeddings(self.rt.http, deployment, body)
        except GatewayError as exc:
            self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="embeddings",
                         model=model, started=started, status="error", usage=None, error_type=exc.type)
            exc.headers.setdefault("x-request-id", request_id)
            raise
        self._record(request_id=request_id, principal=principal, deployment=deployment, call_type="embeddings",
                     model=model, started=started, status="success", usage=reply.usage)
        return Response(reply.body, media_type=_JSON, headers={"x-request-id": request_id})

    async def list_models(self, principal: Principal) -> dict[str, Any]:
        groups = await self.rt.catalog.models_of(require_account())
        names = sorted(name for name in groups if principal.may_use_model(name))
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "alchemi"} for name in names],
        }
