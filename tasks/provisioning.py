"""Zitadel provisioning jobs: `provision_user(ctx, event_id)` applies one recorded event
(app/provisioning/reconcile.py); the cron `requeue_provisioning_events` queues again any event still
pending after a while (its first enqueue lost with Redis, say)."""

from __future__ import annotations

from typing import Any

import asyncpg
from arq import Retry

from app.lib.invalidation import InvalidationBus
from app.provisioning import queries
from app.provisioning.reconcile import apply_event
from app.provisioning.queue import queue_event

PENDING_GRACE_S = 60


async def provision_user(ctx: dict[str, Any], event_id: int) -> str:
    try:
        outcome = await apply_event(ctx["db"], event_id)
    except (asyncpg.PostgresConnectionError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError, OSError):
        raise Retry(defer=2 * ctx.get("job_try", 1)) from None
    bus = InvalidationBus(ctx["redis"])
    for key_hash in outcome.revoked_key_hashes:  # every API process drops these keys from its cache
        await bus.publish("key", key_hash)
    return f"{outcome.status} {outcome.detail or ''}".strip()


async def requeue_provisioning_events(ctx: dict[str, Any]) -> int:
    async with ctx["db"].acquire() as conn:
        rows = await conn.fetch(queries.PENDING_EVENTS, float(PENDING_GRACE_S))
    for row in rows:
        await queue_event(ctx["redis"], row["id"])
    return len(rows)
