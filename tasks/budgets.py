"""Budget upkeep: moving periods on, restoring Redis counters after a data loss, delivering alerts, and
recording a full budget's refusals (the 100 % alert and the `budget.blocked` audit event)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import msgspec
from arq import Retry

from app.audit.actor import SYSTEM
from app.audit.record import record_on
from app.billing.limits import ALIVE_KEY, BUDGET_KEY_TTL, LIFETIME, SEED, to_units
from app.billing.periods import current_period
from app.lib import request_context
from app.lib.invalidation import CHANNEL
from app.lib.jobs import enqueue
from app.tenancy.database import bind_account
from tasks.usage import record_usage

log = logging.getLogger("alchemi.tasks.budgets")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TENANT_BUDGETED_TABLES = ("virtual_keys", "users", "teams", "organizations")
_LEVEL_OF_TABLE = {"virtual_keys": "key", "users": "user", "teams": "team", "organizations": "organization",
                   "accounts": "account"}


async def reset_budget_periods(ctx: dict[str, Any]) -> int:
    """Move `budget_reset_at` of every level whose period ended to the end of its current period.

    Admission computes the same period from the old value, so a late run never charges a
    request to the wrong period; this keeps what /key/info & co. show current. Row-level security
    hides every account's keys, users, teams and organizations until it is bound: a SECURITY DEFINER
    function names the accounts with a period due, and each is visited with its account bound.
    """
    now = datetime.now(timezone.utc)
    accounts: set[str] = set()
    async with ctx["db"].acquire() as conn:
        moved = await _move_periods(conn, "accounts", "id", None, now, accounts)
        due = await conn.fetch("SELECT account_id FROM public.alchemi_accounts_with_due_budgets($1) AS account_id",
                               now)
        for row in due:
            async with conn.transaction():
                await bind_account(conn, row["account_id"])
                for table in _TENANT_BUDGETED_TABLES:
                    moved += await _move_periods(conn, table, "account_id", row["account_id"], now, accounts)
    for account_id in accounts:
        await ctx["redis"].publish(CHANNEL, f"account:{account_id}")
    return moved


async def _move_periods(conn, table: str, account_column: str, account_id: UUID | None, now: datetime,
                        accounts: set[str]) -> int:
    """Move the ended periods of one table (of one account, when given); adds the accounts touched."""
    mine = f" AND {account_column} = $2" if account_id is not None else ""
    rows = await conn.fetch(
        f"SELECT id, {account_column} AS account_id, budget_duration, budget_reset_at FROM {table} "
        f"WHERE budget_duration IS NOT NULL AND (budget_reset_at IS NULL OR budget_reset_at <= $1){mine}",
        now, *([account_id] if account_id is not None else []))
    moved = 0
    for row in rows:
        try:
            _, end = current_period(row["budget_reset_at"] or _EPOCH, row["budget_duration"], now)
        except ValueError:
            continue
        await conn.execute(f"UPDATE {table} SET budget_reset_at = $2 WHERE id = $1 AND "
                           "budget_reset_at IS NOT DISTINCT FROM $3", row["id"], end, row["budget_reset_at"])
        accounts.add(str(row["account_id"]))
        moved += 1
    return moved


async def restore_budget_counters(ctx: dict[str, Any]) -> int:
    """After Redis lost its data (no `al:alive`), put every live period's recorded spend back, then mark it alive.

    Until then admissions seed the counters they touch themselves, one period at a time.
    """
    redis = ctx["redis"]
    if await redis.exists(ALIVE_KEY):
        return 0
    # Usage still in the outbox is spend too: record it first, so the counters start from all of it.
    async with ctx["db"].acquire() as conn:
        pending = await conn.fetch("SELECT batch_id, events FROM usage_outbox WHERE processed_at IS NULL "
                                   "ORDER BY created_at")
    for batch in pending:
        await record_usage(ctx, str(batch["batch_id"]), msgspec.msgpack.decode(batch["events"]))
    now = datetime.now(timezone.utc)
    rows = []
    async with ctx["db"].acquire() as conn:
        # Every account's periods: the definer function names the accounts, each is read with it bound.
        live = await conn.fetch(
            "SELECT account_id FROM public.alchemi_accounts_with_live_budget_periods($1) AS account_id", now)
        for account in live:
            async with conn.transaction():
                await bind_account(conn, account["account_id"])
                rows += await conn.fetch("SELECT level, entity_id, period_end, spend FROM budget_usage "
                                         "WHERE account_id = $1 AND (period_end > $2 OR period_end = $3)",
                                         account["account_id"], now, _EPOCH)
    for row in rows:
        period = int(row["period_end"].timestamp())
        expire = period + BUDGET_KEY_TTL if period != LIFETIME else 0
        await SEED(redis, [f"al:{row['level']}:{row['entity_id']}:b:{period}"], [to_units(row["spend"]), expire])
    await redis.set(ALIVE_KEY, now.isoformat())
    log.info("budget counters restored", extra={"periods": len(rows)})
    return len(rows)


async def deliver_budget_alert(ctx: dict[str, Any], alert_id: int) -> str:
    """POST a crossed soft-budget threshold to the account's alert webhook (metadata.alert_webhook_url)."""
    async with ctx["db"].acquire() as conn:
        # The job carries the alert's id only: its account comes from a SECURITY DEFINER function.
        account_id = await conn.fetchval("SELECT public.alchemi_account_of_budget_alert($1)", alert_id)
        if account_id is None:
            return "nothing to do"
        async with conn.transaction():
            await bind_account(conn, account_id)
            alert = await conn.fetchrow(
                "SELECT b.*, a.metadata AS account_metadata, a.name AS account_name FROM budget_alerts b "
                "JOIN accounts a ON a.id = b.account_id WHERE b.id = $1 AND b.account_id = $2", alert_id, account_id)
    if alert is None or alert["delivered_at"] is not None:
        return "nothing to do"
    metadata = _json(alert["account_metadata"])
    url = metadata.get("alert_webhook_url") if isinstance(metadata, dict) else None
    if url:
        payload = {
            "type": "budget_alert", "alert_id": alert["id"], "account_id": str(alert["account_id"]),
            "account_name": alert["account_name"], "level": alert["level"], "entity_id": str(alert["entity_id"]),
            "threshold_percent": alert["threshold"], "spend": str(alert["spend"]),
            "max_budget": str(alert["max_budget"]), "period_end": alert["period_end"].isoformat(),
        }
        try:
            response = await ctx["http"].post(url, json=payload, timeout=10)
        except httpx.HTTPError as exc:  # receiver down or unreachable: like an error answer, try again later
            log.warning("budget alert delivery failed", extra={"error": type(exc).__name__, "alert_id": alert_id})
            raise Retry(defer=min(ctx.get("job_try", 1) * 5, 300)) from exc
        if response.status_code >= 400:
            raise Retry(defer=min(ctx.get("job_try", 1) * 5, 300))
    async with ctx["db"].acquire() as conn, conn.transaction():
        await bind_account(conn, alert["account_id"])
        await conn.execute("UPDATE budget_alerts SET delivered_at = now() WHERE id = $1", alert_id)
    return "delivered" if url else "recorded (no webhook configured)"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return msgspec.json.decode(value)
    return value or {}


_FULL = """
INSERT INTO budget_alerts (account_id, level, entity_id, period_end, threshold, spend, max_budget, created_at)
VALUES ($1, $2, $3, $4, 100, $5, $6, now())
ON CONFLICT (level, entity_id, period_end, threshold) DO NOTHING
RETURNING id
"""


async def record_budget_refusal(ctx: dict[str, Any], account_id: str, level: str, entity_id: str, period: int,
                                spend: str, max_budget: str, request_id: str | None = None) -> int | None:
    """A request was refused because a budget is full: that is the 100 % alert (once per period), and
    the audit event `budget.blocked` (once per level, entity and period, so an exhausted budget refusing
    every request does not flood the trail), both in one transaction. `request_id` is the first refused
    request's.

    Reservations keep admitted spend below the budget, so the ledger alone may never reach 100 %."""
    period_end = datetime.fromtimestamp(period, tz=timezone.utc)
    async with ctx["db"].acquire() as conn, conn.transaction():
        await bind_account(conn, account_id)
        alert_id = await conn.fetchval(_FULL, UUID(account_id), level, UUID(entity_id), period_end, Decimal(spend),
                                       Decimal(max_budget))
        await _record_block(conn, UUID(account_id), level, entity_id, period_end, spend, max_budget, request_id)
    if alert_id is not None:
        await enqueue(ctx["redis"], "deliver_budget_alert", alert_id, job_id=f"budget-alert-{alert_id}")
    return alert_id


# Serialises the jobs of one (level, entity, period): the check below and the insert are then one step.
_LOCK_BLOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_BLOCK_RECORDED = """
SELECT EXISTS (SELECT 1 FROM audit_events WHERE account_id = $1 AND action = 'budget.blocked' AND target_id = $2
               AND detail->>'level' = $3 AND detail->>'period_end' = $4)
"""


async def _record_block(conn, account_id: UUID, level: str, entity_id: str, period_end: datetime, spend: str,
                        max_budget: str, request_id: str | None) -> None:
    # The ledger may have written the 100 % alert first, so the alert's row cannot tell whether this
    # period's block was recorded: the trail itself is asked.
    await conn.execute(_LOCK_BLOCK, f"budget.blocked:{level}:{entity_id}:{period_end.isoformat()}")
    if await conn.fetchval(_BLOCK_RECORDED, account_id, entity_id, level, period_end.isoformat()):
        return
    request_context.set_request(request_id)
    await record_on(conn, "budget.blocked", account_id=account_id, target_type=level, target_id=entity_id,
                    detail={"level": level, "period_end": period_end, "spend": spend, "max_budget": max_budget},
                    outcome="denied", actor=SYSTEM)
