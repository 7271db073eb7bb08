"""The usage worker pool: `alchemi worker` (or `arq workers.settings.UsageWorker`).

Its jobs: the ledger (record_usage), budget alert delivery, Zitadel provisioning (provision_user),
invitation email (send_invitation_email), guardrail hit rows (record_guardrail_hits); its cron jobs: the
outbox sweeper, budget period upkeep, restoring budget counters after Redis lost its data, queueing stuck
provisioning events again, and the audit trail's shipping to OpenObserve and retention.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import httpx
from arq import cron

from app.lib.crypto import CredentialBox
from app.lib.http import create_upstream_client
from app.lib.jobs import USAGE_QUEUE, deserialize_job, redis_settings, serialize_job
from app.lib.logs import configure_logging
from app.lib.observability import init_sentry
from app.settings import get_settings
from tasks.guardrails import record_guardrail_hits
from tasks.health import check_deployment_health
from tasks.budgets import deliver_budget_alert, record_budget_refusal, reset_budget_periods, restore_budget_counters
from tasks.usage import record_usage, requeue_usage_batches
from tasks.email import send_invitation_email
from tasks.provisioning import provision_user, requeue_provisioning_events
from tasks.audit import audit_context, purge_audit_events, ship_audit_events
from workers.observed import observed_pool

_settings = get_settings()
_EVERY_10_S = set(range(0, 60, 10))


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(_settings.log_level)
    init_sentry(_settings.sentry_dsn, component="worker")
    # As the application role: row-level security applies; jobs bind each account they touch.
    ctx["db"] = await asyncpg.create_pool(_settings.app_database_url, min_size=1, max_size=4)
    ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False, follow_redirects=False)
    ctx["outbox_grace_s"] = float(os.environ.get("ALCHEMI_OUTBOX_GRACE_S", "15"))
    ctx["upstream"] = create_upstream_client(_settings)
    ctx["credentials"] = CredentialBox(_settings.secret_key) if _settings.secret_key else None
    ctx.update(audit_context(_settings, ctx["http"]))  # the OpenObserve client (None without OPENOBSERVE_URL)
    await restore_budget_counters(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["http"].aclose()
    await ctx["upstream"].aclose()
    await ctx["db"].close()


@observed_pool  # logs and Sentry name each job; durations, outcomes and queue depth reach /metrics
class UsageWorker:
    queue_name = USAGE_QUEUE
    functions = [record_usage, deliver_budget_alert, record_budget_refusal, provision_user, send_invitation_email,
                 record_guardrail_hits]
    # No per-job timeouts above job_timeout: arq holds a job for the longest timeout + 10 s before
    # another worker may re-run it after a crash.
    cron_jobs = [
        cron(requeue_usage_batches, second=_EVERY_10_S, run_at_startup=True, unique=True),
        cron(restore_budget_counters, second={5, 35}, unique=True),
        cron(reset_budget_periods, second={15}, unique=True),
        cron(check_deployment_health, second=set(range(0, 60, _settings.health_check_interval)), unique=True),
        cron(requeue_provisioning_events, second={25}, unique=True),
        cron(ship_audit_events, second=set(range(0, 60, _settings.audit_ship_interval)), unique=True),
        cron(purge_audit_events, minute={47}, second={40}, run_at_startup=True, unique=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_settings.redis_url)
    job_serializer = serialize_job
    job_deserializer = deserialize_job
    health_check_interval = _settings.worker_health_interval
    max_jobs = 20
    job_timeout = _settings.usage_job_timeout  # a killed worker's job re-runs after this + 10 s
    max_tries = 1000  # retries come from Retry(...) only; a crash re-run is bounded by arq's in-progress TTL
    keep_result = 3600
