"""Rebuilding the ledger's roll-ups (spend_daily, budget_usage) from usage_ledger alone.

The workers keep both up to date as they write the ledger (tasks/usage.py); the ledger is the
source of truth. `alchemi rebuild-rollups` recomputes them in one transaction when they are in
doubt (a bug, a hand edit, a partial restore) and says how many rows differed. Running it again
changes nothing. The Redis budget counters are not touched: they only read budget_usage when
Redis has lost its data.
"""

from __future__ import annotations

import asyncpg

from app.billing.usage import LEVEL_OWNER

# Writers wait while the roll-ups are rebuilt (SHARE conflicts with INSERT's ROW EXCLUSIVE), so no
# ledger row can land between the rebuild's read and its commit and be counted twice or never.
# A worker's transaction takes the ledger first, so waiting on each other cannot deadlock.
_LOCK_LEDGER = "LOCK TABLE usage_ledger IN SHARE MODE"
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"

_DAILY = "day, account_id, organization_id, team_id, user_id, key_id, model_group, requests, prompt_tokens, " \
         "completion_tokens, cost"
_REBUILD_DAILY = f"""
WITH written AS (
    INSERT INTO spend_daily ({_DAILY})
    SELECT (started_at AT TIME ZONE 'UTC')::date, account_id, organization_id, team_id, user_id, key_id, model_group,
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost)
    FROM usage_ledger
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    RETURNING 1
) SELECT count(*) FROM written
"""
# Buckets present on one side only, or with other numbers (nullable ids compared as in the unique index).
_DAILY_DIFFERENCES = f"""
SELECT count(*) FROM spend_daily_before b FULL JOIN spend_daily a
  ON a.day = b.day AND a.account_id = b.account_id AND a.model_group = b.model_group
 AND COALESCE(a.organization_id, {_NIL}) = COALESCE(b.organization_id, {_NIL})
 AND COALESCE(a.team_id, {_NIL}) = COALESCE(b.team_id, {_NIL})
 AND COALESCE(a.user_id, {_NIL}) = COALESCE(b.user_id, {_NIL})
 AND COALESCE(a.key_id, {_NIL}) = COALESCE(b.key_id, {_NIL})
WHERE a.day IS NULL OR b.day IS NULL
   OR (a.requests, a.prompt_tokens, a.completion_tokens, a.cost)
      IS DISTINCT FROM (b.requests, b.prompt_tokens, b.completion_tokens, b.cost)
"""

_ENTITY = "CASE p.key " + " ".join(f"WHEN '{level}' THEN l.{column}" for level, column in LEVEL_OWNER.items()) + " END"
_PERIODS = "account_id, level, entity_id, period_end, spend"
# `budget_periods` maps level → period id (its end in epoch seconds; 0 for lifetime budgets).
_REBUILD_PERIODS = f"""
WITH written AS (
    INSERT INTO budget_usage ({_PERIODS})
    SELECT l.account_id, p.key, {_ENTITY}, to_timestamp(p.value::bigint), sum(l.cost)
    FROM usage_ledger l CROSS JOIN LATERAL jsonb_each_text(l.budget_periods) AS p
    WHERE {_ENTITY} IS NOT NULL
    GROUP BY 1, 2, 3, 4
    RETURNING 1
) SELECT count(*) FROM written
"""
_PERIOD_DIFFERENCES = """
SELECT count(*) FROM budget_usage_before b FULL JOIN budget_usage a
  ON a.level = b.level AND a.entity_id = b.entity_id AND a.period_end = b.period_end
WHERE a.level IS NULL OR b.level IS NULL OR (a.account_id, a.spend) IS DISTINCT FROM (b.account_id, b.spend)
"""


async def _rebuild(conn: asyncpg.Connection, table: str, columns: str, rebuild: str,
                   differences: str) -> tuple[int, int]:
    """(rows written, rows that differ from what the table held before) for one roll-up."""
    await conn.execute(f"CREATE TEMP TABLE {table}_before ON COMMIT DROP AS SELECT {columns} FROM {table}")
    await conn.execute(f"DELETE FROM {table}")
    rows = await conn.fetchval(rebuild)
    return rows, await conn.fetchval(differences)


async def rebuild_rollups(conn: asyncpg.Connection) -> dict[str, int]:
    """Recompute spend_daily and budget_usage from the ledger; returns row counts and how many rows differed."""
    async with conn.transaction():
        # Every account's rows: a role that row-level security would filter gets an error, not a rebuild
        # from an empty-looking ledger.
        await conn.execute("SET LOCAL row_security = off")
        await conn.execute(_LOCK_LEDGER)
        ledger_rows = await conn.fetchval("SELECT count(*) FROM usage_ledger")
        daily_rows, daily_differed = await _rebuild(conn, "spend_daily", _DAILY, _REBUILD_DAILY, _DAILY_DIFFERENCES)
        period_rows, periods_differed = await _rebuild(conn, "budget_usage", _PERIODS, _REBUILD_PERIODS,
                                                       _PERIOD_DIFFERENCES)
    return {
        "ledger_rows": ledger_rows,
        "spend_daily_rows": daily_rows, "spend_daily_differed": daily_differed,
        "budget_usage_rows": period_rows, "budget_usage_differed": periods_differed,
    }
