"""Budget periods on the PostgreSQL side: what a period has spent so far (to restore Redis counters)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

from app.billing.limits import LevelLimits
from app.db.tables import BudgetUsage
from app.tenancy.scoped import scoped


def period_end(period: int) -> datetime:
    return datetime.fromtimestamp(period, tz=timezone.utc)


async def recorded_spend(level: LevelLimits) -> Decimal:
    """The spend the ledger has recorded for this level's period (runs inside the request's account)."""
    row = await scoped(BudgetUsage).select(BudgetUsage.spend).where(
        (BudgetUsage.level == level.level) & (BudgetUsage.entity_id == UUID(level.entity_id))
        & (BudgetUsage.period_end == period_end(level.period))
    ).first()
    return row["spend"] if row else Decimal(0)
