"""/health/liveliness and /health/readiness (PostgreSQL, Redis, a live worker heartbeat)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get

from app.admin.access import PRINCIPAL, permitted
from app.auth.principal import Principal
from app.lib.jobs import USAGE_QUEUE
from app.lib.metrics import REGISTRY
from app.runtime import runtime
from app.tenancy.context import require_account


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


@get("/metrics", media_type="text/plain; version=0.0.4", sync_to_thread=False, tags=["health"])
def metrics() -> str:
    """Prometheus scrape endpoint (process-local counters; scrape every API process)."""
    return REGISTRY.render()


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

    @get("/liveliness", sync_to_thread=False)
    def liveliness(self) -> dict[str, str]:
        return {"status": "alive"}

    @get("/readiness")
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
