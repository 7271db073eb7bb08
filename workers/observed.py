"""`@observed_pool` on a worker pool's settings class: each of its jobs and crons runs with its log lines and
Sentry events naming the job (request id = arq job id) and, for a job with an `account_id` argument, that
account; each job's duration and outcome are counted fleet-wide in Redis (app/lib/worker_metrics.py), and
the pool names its queue so that `/metrics` reports the queue's depth."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from typing import Any
from uuid import UUID

from arq import Retry
from arq.worker import Function

from app.lib import request_context, worker_metrics
from app.lib.logs import new_log_scope, set_log_account
from app.lib.observability import report_failure

log = logging.getLogger("alchemi.jobs")
_RECORD_TIMEOUT_S = 1.0


def _account_of(position: int | None, args: tuple, kwargs: dict) -> str | None:
    value = kwargs.get("account_id")
    if value is None and position is not None and len(args) > position:
        value = args[position]
    try:
        return str(UUID(str(value))) if value is not None else None
    except ValueError:
        return None  # not an account id: never let a payload into a log field or a tag


def observed(coroutine: Any, queue: str) -> Any:
    """`coroutine(ctx, *args)` with its account named in logs, its failures sent to Sentry with the job's
    tags, and its duration and outcome counted."""
    name = coroutine.__name__
    params = list(inspect.signature(coroutine).parameters)[1:]  # after ctx
    position = params.index("account_id") if "account_id" in params else None

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        set_log_account(_account_of(position, args, kwargs))
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await coroutine(ctx, *args, **kwargs)
        except Retry:
            outcome = "retried"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"  # timed out, or the worker is stopping (arq runs it again)
            raise
        except Exception as exc:
            report_failure(exc)
            raise
        else:
            outcome = "success"
            return result
        finally:
            await _record(ctx, queue, name, time.perf_counter() - started, outcome)

    return run


async def _record(ctx: dict[str, Any], queue: str, function: str, seconds: float, outcome: str) -> None:
    try:
        await asyncio.wait_for(worker_metrics.record_job(ctx["redis"], queue, function, seconds, outcome),
                               _RECORD_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a metric lost is no reason to fail or retry the job
        log.warning("job metrics not recorded", extra={"function": function, "error": type(exc).__name__})


def observed_pool(settings: type) -> type:
    """Wrap the pool's functions and crons with `observed`, and chain its startup and job-start hooks."""
    queue = settings.queue_name
    settings.functions = [
        Function(f.name, observed(f.coroutine, queue), f.timeout_s, f.keep_result_s, f.keep_result_forever, f.max_tries)
        if isinstance(f, Function) else observed(f, queue)
        for f in settings.functions
    ]
    for job in settings.cron_jobs:
        job.coroutine = observed(job.coroutine, queue)
    startup, job_start = getattr(settings, "on_startup", None), getattr(settings, "on_job_start", None)

    async def on_startup(ctx: dict[str, Any]) -> None:
        if startup is not None:
            await startup(ctx)
        await worker_metrics.announce_queue(ctx["redis"], queue)

    async def on_job_start(ctx: dict[str, Any]) -> None:
        # Here, not in the job: arq's own "job failed" line is written from this task, and the job's
        # task copies this context, so both carry the job id (and the account the job names, see logs.py).
        request_context.set_request(ctx.get("job_id"))
        new_log_scope()
        if job_start is not None:
            await job_start(ctx)

    settings.on_startup = on_startup
    settings.on_job_start = on_job_start
    return settings
