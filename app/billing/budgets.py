"""Budget periods on the PostgreSQL side: what a period has spent so far (to restore Redis counters),
and the 100 % alert when a full budget refuses a request."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

import msgspec

from app.billing.limits import LevelLimits, from_units
from app.billing.usage import LEVEL_OWNER, UsageEvent, price_event
from app.db.tables import BudgetUsage, UsageOutbox
from app.lib import request_context
from app.lib.jobs import enqueue
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped


def period_end(period: int) -> datetime:
    return datetime.fromtimestamp(period, tz=timezone.utc)


async def recorded_spend(level: LevelLimits) -> Decimal:
    """What this level's period has spent as far as PostgreSQL knows: the ledger's budget_usage, plus
    the batches still waiting in the outbox (after Redis lost its queue, they are not in the ledger
    yet). Runs inside the request's account; only when a Redis counter has to be restored."""
    row = await scoped(BudgetUsage).select(BudgetUsage.spend).where(
        (BudgetUsage.level == level.level) & (BudgetUsage.entity_id == UUID(level.entity_id))
        & (BudgetUsage.period_end == period_end(level.period))
    ).first()
    return (row["spend"] if row else Decimal(0)) + await _pending_spend(level)


log = logging.getLogger("alchemi.budgets")
_PENDING = "SELECT events FROM usage_outbox WHERE processed_at IS NULL AND account_ids ? {}"


async def _pending_spend(level: LevelLimits) -> Decimal:
    account = str(require_account())
    owner = LEVEL_OWNER[level.level]
    rows = await UsageOutbox.raw(_PENDING, account)
    total = Decimal(0)
    for row in rows:
        for event in msgspec.convert(msgspec.msgpack.decode(row["events"]), list[UsageEvent]):
            if (event.account_id == account and event.budget_periods.get(level.level) == level.period
                    and getattr(event, owner) == level.entity_id):
                total += price_event(event).cost
    return total


async def report_full_budget(jobs, level: LevelLimits, used_units: int) -> None:
    """Queue the 100 % alert for a budget that just refused a request; one job per level and period."""
    try:
        await enqueue(jobs, "record_budget_refusal", str(require_account()), level.level, level.entity_id,
                      level.period, str(from_units(used_units)), str(from_units(level.budget_units or 0)),
                      request_context.request_id(),  # the audit event names the request refused
                      job_id=f"budget-full-{level.level}-{level.entity_id}-{level.period}")
    except Exception:  # noqa: BLE001 - an alert must never turn a clear 400 into a 500
        log.warning("could not queue the budget-full alert", extra={"level": level.level})
