"""Background health checks of the deployments that opted in (`model_info.health_check: true`).

Each check is one tiny real call through the deployment's own adapter; the outcome lands in
Redis (`health:<account_id>`, one field per deployment) for `/health` to show admins.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from app.gateway.catalog import deployment_from_row
from app.lib.errors import GatewayError
from app.providers.base import Deployment
from app.providers.registry import get_provider
from app.tenancy.database import bind_account

HEALTH_TTL_S = 600
_OPTED_IN = "SELECT * FROM model_deployments WHERE account_id = $1 AND (model_info->>'health_check')::boolean IS TRUE"
# Row-level security hides every account's deployments until it is bound: this definer function names
# the accounts that have opted-in deployments, and each is read with its account bound.
_ACCOUNTS = "SELECT account_id FROM public.alchemi_accounts_with_health_checks() AS account_id"


class HealthResult(msgspec.Struct):
    deployment_id: str
    model_name: str
    provider: str
    healthy: bool
    latency_ms: int
    checked_at: float
    error: str | None = None


async def _probe(ctx: dict[str, Any], deployment: Deployment, mode: str) -> HealthResult:
    provider = get_provider(deployment.provider)
    started = time.monotonic()
    error = None
    try:
        if mode == "embedding":
            await asyncio.wait_for(provider.embeddings(ctx["upstream"], deployment, {
                "model": deployment.upstream_model, "input": "ping"}), timeout=15)
        else:
            await asyncio.wait_for(provider.chat(ctx["upstream"], deployment, {
                "model": deployment.upstream_model, "messages": [{"role": "user", "content": "ping"}],
                "max_tokens": 1}), timeout=15)
    except GatewayError as exc:
        error = f"{exc.status} {exc.code or exc.type}"
    except asyncio.TimeoutError:
        error = "timeout"
    return HealthResult(str(deployment.id), deployment.model_name, deployment.provider, error is None,
                        int((time.monotonic() - started) * 1000), time.time(), error)


async def check_deployment_health(ctx: dict[str, Any]) -> int:
    credentials = ctx.get("credentials")
    if credentials is None:
        return 0  # no ALCHEMI_SECRET_KEY in this worker: stored credentials cannot be opened
    rows = []
    async with ctx["db"].acquire() as conn:
        for account in await conn.fetch(_ACCOUNTS):
            async with conn.transaction():
                await bind_account(conn, account["account_id"])
                rows += [dict(row) for row in await conn.fetch(_OPTED_IN, account["account_id"])]
    for row in rows:
        row["model_info"] = msgspec.json.decode(row["model_info"]) if isinstance(row["model_info"], str) else row["model_info"]
        row["provider_params"] = (msgspec.json.decode(row["provider_params"]) if isinstance(row["provider_params"], str)
                                  else row["provider_params"])
        deployment = deployment_from_row(row, credentials)
        result = await _probe(ctx, deployment, str(row["model_info"].get("mode", "chat")))
        key = f"health:{row['account_id']}"
        await ctx["redis"].hset(key, str(deployment.id), msgspec.json.encode(result))
        await ctx["redis"].expire(key, HEALTH_TTL_S)
    return len(rows)
