"""The resources an API process shares between requests, created once in the lifespan."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import msgspec
from arq import ArqRedis

from app.auth.cache import PrincipalCache
from app.auth.service import Authenticator
from app.billing.budgets import recorded_spend, report_full_budget
from app.billing.limits import Limiter
from app.billing.usage import UsageBuffer
from app.db.piccolo_conf import DB
from app.gateway.catalog import DeploymentCatalog
from app.guardrails.cache import GuardrailsCache
from app.guardrails.hits import HitBuffer
from app.identity.sessions import Sessions
from app.gateway.routing.health import DeploymentHealth
from app.gateway.routing.router import Router
from app.lib.crypto import CredentialBox, KeyHasher
from app.lib.http import create_upstream_client
from app.lib.invalidation import InvalidationBus
from app.lib.jobs import create_job_pool
from app.lib.redis_wire import WireRedis
from app.lib.logs import register_secret
from app.lib.metrics import REGISTRY, Gauge
from app.settings import Settings

log = logging.getLogger("alchemi.runtime")


@dataclass
class Runtime:
    settings: Settings
    redis: ArqRedis
    http: httpx.AsyncClient
    hasher: KeyHasher
    credentials: CredentialBox
    bus: InvalidationBus
    auth: Authenticator
    catalog: DeploymentCatalog
    usage: UsageBuffer
    limiter: Limiter
    router: Router
    guardrails: GuardrailsCache
    guardrail_hits: HitBuffer

    @property
    def db(self):
        return DB.pool


_runtime: Runtime | None = None

_OUTBOX_INSERT = "INSERT INTO usage_outbox (batch_id, account_ids, events, created_at) VALUES ($1, $2, $3, now())"


async def write_outbox(batch_id, payload: bytes, account_ids: list[str]) -> None:
    async with DB.pool.acquire() as conn:
        await conn.execute(_OUTBOX_INSERT, batch_id, msgspec.json.encode(account_ids).decode(), payload)


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the API runtime is not started")
    return _runtime


async def start_runtime(settings: Settings) -> Runtime:
    global _runtime
    if not settings.secret_key:
        raise RuntimeError("set ALCHEMI_SECRET_KEY: it seeds key hashing and credential encryption")
    register_secret(settings.master_key)
    register_secret(settings.secret_key)
    register_secret(settings.ui_password)
    register_secret(settings.zitadel_client_secret)
    # As the application role: row-level security applies to every query (tenancy/database.py).
    await DB.start_connection_pool(dsn=settings.app_database_url, min_size=1, max_size=10)
    redis = await create_job_pool(settings.redis_url)
    bus = InvalidationBus(redis)
    hasher = KeyHasher(settings.secret_key)
    credentials = CredentialBox(settings.secret_key)
    cache = PrincipalCache(bus, ttl=settings.auth_cache_ttl)
    _runtime = Runtime(
        settings=settings,
        redis=redis,
        http=create_upstream_client(settings),
        hasher=hasher,
        credentials=credentials,
        bus=bus,
        auth=Authenticator(master_key=settings.master_key, pool=DB.pool, cache=cache, hasher=hasher,
                           sessions=Sessions(settings.secret_key, redis, settings.session_ttl)),
        catalog=DeploymentCatalog(bus, credentials, ttl=settings.auth_cache_ttl),
        usage=UsageBuffer(redis, interval=settings.usage_flush_interval, max_records=settings.usage_flush_max_records,
                          outbox=write_outbox),
        limiter=Limiter(
            # Its own lean connection with short timeouts: a Redis outage must fail requests fast, not hang them.
            WireRedis(settings.limits_redis_url or settings.redis_url, timeout=settings.limits_redis_timeout),
            fail_open=settings.limits_fail_open, seed=recorded_spend,
            on_budget_full=lambda level, used: report_full_budget(redis, level, used),
        ),
        router=Router(redis, DeploymentHealth(redis, bus)),
        guardrails=GuardrailsCache(bus, ttl=settings.auth_cache_ttl),
        guardrail_hits=HitBuffer(redis, interval=settings.usage_flush_interval),
    )
    await bus.start()
    _runtime.usage.start()
    _runtime.guardrail_hits.start()
    usage = _runtime.usage
    REGISTRY.register(Gauge("alchemi_usage_events_pending", "Usage events not yet handed to the workers",
                            lambda: usage.pending))
    return _runtime


async def stop_runtime() -> None:
    global _runtime
    if _runtime is None:
        return
    current, _runtime = _runtime, None
    try:
        await current.usage.stop()
    except Exception:  # noqa: BLE001
        log.error("usage events could not be handed to the workers at shutdown", extra={"pending": current.usage.pending})
    try:
        await current.guardrail_hits.stop()
    except Exception:  # noqa: BLE001
        log.error("guardrail hits could not be handed to the workers at shutdown",
                  extra={"pending": current.guardrail_hits.pending})
    await current.bus.stop()
    await current.http.aclose()
    await current.redis.aclose()
    await current.limiter.aclose()
    await DB.close_connection_pool()
