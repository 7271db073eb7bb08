"""Writes usage events into the ledger, and everything derived from them, exactly once.

The ledger insert skips request ids already present; spend, budget periods, daily roll-ups
and alerts are only updated for the rows this run inserted, in the same transaction, which
also marks the outbox batch done. A job re-run after a crash, a second enqueue of the same
batch, or the outbox sweeper re-queueing it therefore changes nothing.
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

from app.billing.usage import LEVEL_OWNER, PricedEvent, UsageEvent, price_event
from app.lib.jobs import enqueue
from app.tenancy.database import bind_account

log = logging.getLogger("alchemi.tasks.usage")

ALERT_THRESHOLDS = (50, 80, 100)

_INSERT = """
INSERT INTO usage_ledger (request_id, account_id, organization_id, team_id, user_id, key_id, call_type, model,
    model_group, deployment_id, provider, upstream_model, prompt_tokens, completion_tokens, total_tokens,
    cached_tokens, cache_write_tokens, reasoning_tokens, usage_estimated, provider_cost, cost, budget_periods,
    latency_ms, stream, status, error_type, started_at, ended_at, recorded_at)
SELECT r.*, now() FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[],
    $8::text[], $9::text[], $10::uuid[], $11::text[], $12::text[], $13::int[], $14::int[], $15::int[], $16::int[],
    $17::int[], $18::int[], $19::bool[], $20::numeric[], $21::numeric[], $22::jsonb[], $23::int[], $24::bool[],
    $25::text[], $26::text[], $27::timestamptz[], $28::timestamptz[]) AS r
ON CONFLICT (request_id) DO NOTHING
RETURNING request_id
"""

# Lifetime spend on each level's own row; `account_id` is matched so an event only charges its own tenant.
_ADD_SPEND = """
UPDATE {table} AS t SET spend = t.spend + d.amount
FROM unnest($1::uuid[], $2::uuid[], $3::numeric[]) AS d(id, account_id, amount)
WHERE t.id = d.id AND t.account_id = d.account_id
"""
_SPEND_TABLES = {"key": "virtual_keys", "user": "users", "team": "teams", "organization": "organizations"}
_ADD_ACCOUNT_SPEND = """
UPDATE accounts AS t SET spend = t.spend + d.amount FROM unnest($1::uuid[], $2::numeric[]) AS d(id, amount)
WHERE t.id = d.id
"""
_ADD_PERIOD_SPEND = """
INSERT INTO budget_usage (account_id, level, entity_id, period_end, spend)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::numeric[])
ON CONFLICT (level, entity_id, period_end) DO UPDATE SET spend = budget_usage.spend + EXCLUDED.spend
RETURNING account_id, level, entity_id, period_end, spend
"""
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
_ADD_DAILY = f"""
INSERT INTO spend_daily (day, account_id, organization_id, team_id, user_id, key_id, model_group, requests,
    prompt_tokens, completion_tokens, cost)
SELECT * FROM unnest($1::date[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::bigint[],
    $9::bigint[], $10::bigint[], $11::numeric[])
ON CONFLICT (day, account_id, COALESCE(organization_id, {_NIL}), COALESCE(team_id, {_NIL}), COALESCE(user_id, {_NIL}),
    COALESCE(key_id, {_NIL}), model_group)
DO UPDATE SET requests = spend_daily.requests + EXCLUDED.requests,
    prompt_tokens = spend_daily.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = spend_daily.completion_tokens + EXCLUDED.completion_tokens,
    cost = spend_daily.cost + EXCLUDED.cost
"""
_ALERT = """
INSERT INTO budget_alerts (account_id, level, entity_id, period_end, threshold, spend, max_budget, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (level, entity_id, period_end, threshold) DO NOTHING
RETURNING id
"""
_OUTBOX_DONE = "UPDATE usage_outbox SET processed_at = now() WHERE batch_id = $1 AND processed_at IS NULL"


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _ledger_columns(rows: list[PricedEvent]) -> list[list[Any]]:
    events = [row.event for row in rows]
    return [
        [e.request_id for e in events], [UUID(e.account_id) for e in events],
        [_uuid(e.organization_id) for e in events], [_uuid(e.team_id) for e in events],
        [_uuid(e.user_id) for e in events], [_uuid(e.key_id) for e in events], [e.call_type for e in events],
        [e.model for e in events], [e.model_group for e in events], [_uuid(e.deployment_id) for e in events],
        [e.provider for e in events], [e.upstream_model for e in events], [e.prompt_tokens for e in events],
        [e.completion_tokens for e in events], [e.prompt_tokens + e.completion_tokens for e in events],
        [e.cached_tokens for e in events], [e.cache_write_tokens for e in events],
        [e.reasoning_tokens for e in events], [e.usage_estimated for e in events],
        [row.provider_cost for row in rows], [row.cost for row in rows],
        [msgspec.json.encode(e.budget_periods).decode() for e in events],
        [max(int((e.ended_at - e.started_at) * 1000), 0) for e in events], [e.stream for e in events],
        [e.status for e in events], [e.error_type for e in events], [_time(e.started_at) for e in events],
        [_time(e.ended_at) for e in events],
    ]


async def record_usage(ctx: dict[str, Any], batch_id: str | None, events: list[Any]) -> int:
    """Ledger rows and their consequences for a batch of usage events; returns how many rows were new."""
    unique: dict[str, UsageEvent] = {}
    for event in msgspec.convert(events, list[UsageEvent]):
        unique.setdefault(event.request_id, event)
    rows = [price_event(event) for event in unique.values()]
    try:
        inserted, alerts = await _write(ctx["db"], rows, batch_id)
    except Exception as exc:  # noqa: BLE001
        # The transaction rolled back, so nothing was written: retrying is always safe, and dropping
        # money events is never acceptable. (PostgreSQL away, connections killed, failover...)
        log.warning("ledger write failed; retrying", extra={"error": type(exc).__name__, "try": ctx.get("job_try")})
        raise Retry(defer=min(ctx.get("job_try", 1), 10)) from exc
    for alert_id in alerts:
        await enqueue(ctx["redis"], "deliver_budget_alert", alert_id, job_id=f"budget-alert-{alert_id}")
    return inserted


async def _write(pool: asyncpg.Pool, rows: list[PricedEvent], batch_id: str | None) -> tuple[int, list[int]]:
    """One transaction for the whole batch. Row-level security admits an account's rows only while that
    account is bound, so the statements run account by account (in id order: concurrent workers then
    take row locks in the same order)."""
    by_account: dict[str, list[PricedEvent]] = defaultdict(list)
    for row in rows:
        by_account[row.event.account_id].append(row)
    inserted, alerts = 0, []
    async with pool.acquire() as conn, conn.transaction():
        for account_id in sorted(by_account):
            await bind_account(conn, account_id)
            fresh, new_alerts = await _write_account(conn, by_account[account_id])
            inserted += fresh
            alerts += new_alerts
        if batch_id:
            await conn.execute(_OUTBOX_DONE, UUID(batch_id))
    return inserted, alerts


async def _write_account(conn: asyncpg.Connection, rows: list[PricedEvent]) -> tuple[int, list[int]]:
    """One account's ledger rows and, for those this run inserted, their consequences."""
    inserted = {row["request_id"] for row in await conn.fetch(_INSERT, *_ledger_columns(rows))}
    fresh = [row for row in rows if row.event.request_id in inserted]
    if not fresh:
        return 0, []
    await _add_spend(conn, fresh)
    alerts = await _add_period_spend(conn, fresh)
    await _add_daily(conn, fresh)
    return len(fresh), alerts


async def _add_spend(conn: asyncpg.Connection, fresh: list[PricedEvent]) -> None:
    for level, table in _SPEND_TABLES.items():
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in fresh:
            owner = getattr(row.event, LEVEL_OWNER[level])
            if owner and row.cost:
                totals[(owner, row.event.account_id)] += row.cost
        if totals:
            ids, accounts = zip(*totals)
            await conn.execute(_ADD_SPEND.format(table=table), [UUID(i) for i in ids], [UUID(a) for a in accounts],
                               list(totals.values()))
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    for row in fresh:
        if row.cost:
            by_account[row.event.account_id] += row.cost
    if by_account:
        await conn.execute(_ADD_ACCOUNT_SPEND, [UUID(a) for a in by_account], list(by_account.values()))


async def _add_period_spend(conn: asyncpg.Connection, fresh: list[PricedEvent]) -> list[int]:
    """budget_usage += cost for the period each request was admitted in; returns new alert ids."""
    totals: dict[tuple[str, str, str, int], Decimal] = defaultdict(Decimal)
    limits: dict[tuple[str, str, str, int], Decimal] = {}
    for row in fresh:
        for level, period in row.event.budget_periods.items():
            owner = getattr(row.event, LEVEL_OWNER.get(level, ""), None)
            if not owner:
                continue
            bucket = (row.event.account_id, level, owner, period)
            totals[bucket] += row.cost
            if level in row.event.budget_limits:
                limits[bucket] = Decimal(row.event.budget_limits[level])
    if not totals:
        return []
    buckets = list(totals)
    updated = await conn.fetch(
        _ADD_PERIOD_SPEND, [UUID(b[0]) for b in buckets], [b[1] for b in buckets], [UUID(b[2]) for b in buckets],
        [_time(b[3]) for b in buckets], [totals[b] for b in buckets],
    )
    alerts: list[int] = []
    for row in updated:
        bucket = (str(row["account_id"]), row["level"], str(row["entity_id"]), int(row["period_end"].timestamp()))
        max_budget = limits.get(bucket)
        if not max_budget:
            continue
        for threshold in ALERT_THRESHOLDS:
            if row["spend"] * 100 >= max_budget * threshold:
                alert_id = await conn.fetchval(_ALERT, row["account_id"], row["level"], row["entity_id"],
                                               row["period_end"], threshold, row["spend"], max_budget)
                if alert_id is not None:
                    alerts.append(alert_id)
    return alerts


async def _add_daily(conn: asyncpg.Connection, fresh: list[PricedEvent]) -> None:
    buckets: dict[tuple, list] = {}
    for row in fresh:
        e = row.event
        key = (_time(e.started_at).date(), e.account_id, e.organization_id, e.team_id, e.user_id, e.key_id,
               e.model_group)
        bucket = buckets.setdefault(key, [0, 0, 0, Decimal(0)])
        bucket[0] += 1
        bucket[1] += e.prompt_tokens
        bucket[2] += e.completion_tokens
        bucket[3] += row.cost
    keys = list(buckets)
    await conn.execute(
        _ADD_DAILY, [k[0] for k in keys], [UUID(k[1]) for k in keys], [_uuid(k[2]) for k in keys],
        [_uuid(k[3]) for k in keys], [_uuid(k[4]) for k in keys], [_uuid(k[5]) for k in keys], [k[6] for k in keys],
        [buckets[k][0] for k in keys], [buckets[k][1] for k in keys], [buckets[k][2] for k in keys],
        [buckets[k][3] for k in keys],
    )


async def requeue_usage_batches(ctx: dict[str, Any]) -> int:
    """The outbox sweeper: queue again every batch not processed after a while (Redis lost it, or the
    job is stuck), and forget processed batches after an hour. Re-queued jobs keep their job id, so a
    batch still waiting in the queue is not queued twice."""
    async with ctx["db"].acquire() as conn:
        stale = await conn.fetch(
            "SELECT batch_id, events FROM usage_outbox WHERE processed_at IS NULL "
            "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 200",
            float(ctx.get("outbox_grace_s", 15)))
        await conn.execute("DELETE FROM usage_outbox WHERE processed_at < now() - interval '1 hour'")
        # Alerts whose delivery job was lost (Redis failed right after the ledger commit), in every
        # account: a SECURITY DEFINER function answers their ids (row-level security hides the rows).
        undelivered = await conn.fetch(
            "SELECT id FROM public.alchemi_undelivered_budget_alerts(interval '1 minute', 500) AS id")
    for row in undelivered:
        await enqueue(ctx["redis"], "deliver_budget_alert", row["id"], job_id=f"budget-alert-{row['id']}")
    for row in stale:
        events = msgspec.msgpack.decode(row["events"])
        await enqueue(ctx["redis"], "record_usage", str(row["batch_id"]), events, job_id=f"usage-{row['batch_id']}")
    if stale:
        log.warning("re-queued usage batches from the outbox", extra={"batches": len(stale)})
    return len(stale)
