"""Writes usage events into the ledger and adds their cost to the spend of every level.

Exactly once: the ledger insert skips request ids already present, and spend is only added
for the rows this run inserted, in the same transaction. A job re-run after a crash (or a
second enqueue of the same events) therefore changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from arq import Retry

from app.billing.pricing import cost_of
from app.billing.usage import UsageEvent

log = logging.getLogger("alchemi.tasks.usage")

_INSERT = """
INSERT INTO usage_ledger (request_id, account_id, organization_id, team_id, user_id, key_id, call_type, model,
    model_group, deployment_id, provider, upstream_model, prompt_tokens, completion_tokens, total_tokens, cost,
    latency_ms, stream, status, error_type, started_at, ended_at, recorded_at)
SELECT r.*, now() FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[],
    $8::text[], $9::text[], $10::uuid[], $11::text[], $12::text[], $13::int[], $14::int[], $15::int[], $16::numeric[],
    $17::int[], $18::bool[], $19::text[], $20::text[], $21::timestamptz[], $22::timestamptz[]) AS r
ON CONFLICT (request_id) DO NOTHING
RETURNING request_id
"""

# Spend lives on each level's own row; `account_id` is matched too so an event can only charge its own tenant.
_ADD_SPEND = {
    "virtual_keys": "key_id",
    "users": "user_id",
    "teams": "team_id",
    "organizations": "organization_id",
}
_ADD_SPEND_SQL = """
UPDATE {table} AS t SET spend = t.spend + d.amount
FROM unnest($1::uuid[], $2::uuid[], $3::numeric[]) AS d(id, account_id, amount)
WHERE t.id = d.id AND t.account_id = d.account_id
"""
_ADD_ACCOUNT_SPEND_SQL = """
UPDATE accounts AS t SET spend = t.spend + d.amount
FROM unnest($1::uuid[], $2::numeric[]) AS d(id, amount) WHERE t.id = d.id
"""


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _columns(events: list[UsageEvent], costs: list[Decimal]) -> list[list[Any]]:
    return [
        [e.request_id for e in events],
        [UUID(e.account_id) for e in events],
        [_uuid(e.organization_id) for e in events],
        [_uuid(e.team_id) for e in events],
        [_uuid(e.user_id) for e in events],
        [_uuid(e.key_id) for e in events],
        [e.call_type for e in events],
        [e.model for e in events],
        [e.model_group for e in events],
        [_uuid(e.deployment_id) for e in events],
        [e.provider for e in events],
        [e.upstream_model for e in events],
        [e.prompt_tokens for e in events],
        [e.completion_tokens for e in events],
        [e.prompt_tokens + e.completion_tokens for e in events],
        costs,
        [max(int((e.ended_at - e.started_at) * 1000), 0) for e in events],
        [e.stream for e in events],
        [e.status for e in events],
        [e.error_type for e in events],
        [_time(e.started_at) for e in events],
        [_time(e.ended_at) for e in events],
    ]


async def record_usage(ctx: dict[str, Any], events: list[Any]) -> int:
    """Ledger rows + spend for a batch of usage events; returns how many rows were new."""
    batch = msgspec.convert(events, list[UsageEvent])
    if not batch:
        return 0
    # A batch may carry one request id twice (a client retry is a new id, so this is only defensive).
    unique: dict[str, UsageEvent] = {}
    for event in batch:
        unique.setdefault(event.request_id, event)
    batch = list(unique.values())
    costs = [cost_of(event) for event in batch]
    by_id = {event.request_id: (event, cost) for event, cost in zip(batch, costs)}

    try:
        inserted = await _write(ctx["db"], batch, costs, by_id)
    except Exception as exc:  # noqa: BLE001
        # The transaction rolled back, so nothing was written: retrying is always safe, and dropping
        # money events is never acceptable. (PostgreSQL away, connections killed, failover...)
        log.warning("ledger write failed; retrying", extra={"error": type(exc).__name__, "try": ctx.get("job_try")})
        raise Retry(defer=min(ctx.get("job_try", 1), 10)) from exc
    log.debug("usage recorded", extra={"rows": inserted, "batch": len(batch)})
    return inserted


async def _write(pool: asyncpg.Pool, batch: list[UsageEvent], costs: list[Decimal],
                 by_id: dict[str, tuple[UsageEvent, Decimal]]) -> int:
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetch(_INSERT, *_columns(batch, costs))
        if not inserted:
            return 0
        fresh = [by_id[row["request_id"]] for row in inserted]
        for table, field in _ADD_SPEND.items():
            totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
            for event, cost in fresh:
                owner = getattr(event, field)
                if owner and cost:
                    totals[(owner, event.account_id)] += cost
            if totals:
                ids, accounts = zip(*totals)
                await conn.execute(_ADD_SPEND_SQL.format(table=table), [UUID(i) for i in ids],
                                   [UUID(a) for a in accounts], list(totals.values()))
        account_totals: dict[str, Decimal] = defaultdict(Decimal)
        for event, cost in fresh:
            if cost:
                account_totals[event.account_id] += cost
        if account_totals:
            await conn.execute(_ADD_ACCOUNT_SPEND_SQL, [UUID(a) for a in account_totals], list(account_totals.values()))
    return len(inserted)
