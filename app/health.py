"""/health/liveliness and /health/readiness (PostgreSQL, Redis, a live worker heartbeat), /health (background
deployment checks) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from litestar import Controller, Response, get

from app.admin.access import PRINCIPAL, permitted
from app.auth.principal import Principal
from app.lib.jobs import USAGE_QUEUE
from app.lib import worker_metrics
from app.lib.metrics import REGISTRY, render_family
from app.runtime import runtime
from app.tenancy.context import require_account

log = logging.getLogger("alchemi.health")
_FLEET_TIMEOUT_S = 1.0


class Readiness(msgspec.Struct):
    status: str
    db: str
    redis: str
    workers: str


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=2)
    except Exception as exc:  # noqa: BLE001 - any failure is "down"; the reason goes to the body
        return f"down: {type(exc).__name__}"
    return "ok"


@get("/metrics", media_type="text/plain; version=0.0.4", tags=["health"], opt={"access_log": False})
async def metrics() -> str:
    """Prometheus scrape endpoint: this process's counters (scrape every API process), then what Redis holds
    for the whole fleet (queue depths, worker job timings, worker-published gauges). A slow or failing Redis
    costs at most `_FLEET_TIMEOUT_S` and shows as `alchemi_fleet_metrics_up 0`, never as a failed scrape."""
    local = REGISTRY.render()
    try:
        fleet = await asyncio.wait_for(worker_metrics.fleet_lines(runtime().redis, (USAGE_QUEUE,)), _FLEET_TIMEOUT_S)
        up = 1.0
    except Exception as exc:  # noqa: BLE001 - any failure (timeout, Redis down, odd data) only drops the fleet part
        log.warning("fleet metrics unavailable", extra={"error": type(exc).__name__})
        fleet, up = [], 0.0
    fleet += render_family("alchemi_fleet_metrics_up", "gauge", "1 when the Redis-held fleet metrics were read",
                           (), [((), up)])
    return local + "\n".join(fleet) + "\n"


class DeploymentHealthReport(msgspec.Struct):
    healthy_endpoints: list[dict]
    unhealthy_endpoints: list[dict]
    healthy_count: int
    unhealthy_count: int


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/", guards=[permitted], dependencies=PRINCIPAL)
    async def deployments(self, principal: Principal) -> DeploymentHealthReport:
        """The last background check of each deployment that opted in (model_info.health_check: true)."""
        stored = await runtime().redis.hgetall(f"health:{require_account()}")
        results = sorted((msgspec.json.decode(value) for value in stored.values()), key=lambda r: r["model_name"])
        healthy = [r for r in results if r["healthy"]]
        unhealthy = [r for r in results if not r["healthy"]]
        return DeploymentHealthReport(healthy, unhealthy, len(healthy), len(unhealthy))

    @get("/liveliness", sync_to_thread=False, opt={"access_log": False})
    def liveliness(self) -> dict[str, str]:
        return {"status": "alive"}

    @get("/readiness", opt={"access_log": False})
    async def readiness(self) -> Response[Readiness]:
        rt = runtime()

        async def db() -> None:
            async with rt.db.acquire() as conn:
                await conn.execute("SELECT 1")

        async def redis() -> None:
            await rt.redis.ping()

        async def workers() -> None:
            # arq refreshes this key every health_check_interval while a worker of the queue runs.
            if not await rt.redis.exists(f"{USAGE_QUEUE}:health-check"):
                raise LookupError("no worker heartbeat")

        results = await asyncio.gather(_check(db), _check(redis), _check(workers))
        status = "ok" if all(result == "ok" for result in results) else "degraded"
        return Response(Readiness(status, *results), status_code=200 if status == "ok" else 503)
