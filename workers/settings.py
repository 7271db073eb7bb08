"""The usage worker pool: `arq workers.settings.UsageWorker` (or `alchemi worker`)."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.lib.jobs import USAGE_QUEUE, deserialize_job, redis_settings, serialize_job
from app.lib.logs import configure_logging
from app.lib.observability import init_sentry
from app.settings import get_settings
from tasks.usage import record_usage

_settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(_settings.log_level)
    init_sentry(_settings.sentry_dsn, component="worker")
    ctx["db"] = await asyncpg.create_pool(_settings.database_url, min_size=1, max_size=4)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["db"].close()


class UsageWorker:
    queue_name = USAGE_QUEUE
    functions = [record_usage]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_settings.redis_url)
    job_serializer = serialize_job
    job_deserializer = deserialize_job
    health_check_interval = _settings.worker_health_interval
    max_jobs = 20
    job_timeout = _settings.usage_job_timeout  # a killed worker's job re-runs after this + 10 s
    max_tries = 1000  # retried jobs come from Retry(...) only; a crash re-run is bounded by arq's in-progress TTL
    keep_result = 3600
