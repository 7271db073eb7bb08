"""Reading what the current account spent: request by request from the usage ledger (/spend/logs),
per day from its daily roll-up (/global/spend/report, /spend/summary). Filters are over the stored
ids, which outlive the keys, users and teams they name: an id that matches nothing gives no rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

from msgspec import UNSET
from piccolo.columns import Column
from piccolo.query.functions.aggregate import Sum

from app.admin import fields
from app.admin.reach import Reach
from app.admin.spend.schemas import (DaySpend, ModelSpend, SpendLog, SpendLogQuery, SpendReportQuery,
                                     SpendReportRow, SpendSummary)
from app.auth.principal import ADMIN_ROLES, Principal
from app.billing.budgets import period_end
from app.billing.limits import LIFETIME
from app.billing.plan import LevelSpec
from app.db.tables import Account, BudgetUsage, SpendDaily, UsageRecord, User, VirtualKey
from app.lib.errors import InvalidRequest, NotFound, PermissionDenied
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped

# group_by → (roll-up column, the answer's field naming the group)
GROUPS: dict[str, tuple[Column, str]] = {
    "model": (SpendDaily.model_group, "model"), "key": (SpendDaily.key_id, "key_id"),
    "team": (SpendDaily.team_id, "team_id"), "user": (SpendDaily.user_id, "user_id"),
    "organization": (SpendDaily.organization_id, "organization_id"),
}
SUMMARY_DAYS = 30


def _log(row: dict) -> SpendLog:
    return SpendLog(
        request_id=row["request_id"], call_type=row["call_type"], model=row["model"], model_group=row["model_group"],
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        total_tokens=row["total_tokens"], spend=float(row["cost"]), api_key=row["key_id"], user=row["user_id"],
        team_id=row["team_id"], account_id=row["account_id"], start_time=row["started_at"],
        end_time=row["ended_at"], status=row["status"], deployment_id=row["deployment_id"],
        provider=row["provider"], latency_ms=row["latency_ms"],
    )


async def _key_id(reference: str) -> UUID | None:
    """A key named by its id, or by its value (`sk-...`), which must be a key of this account."""
    if not reference.startswith("sk-"):
        return fields.identifier(reference, "api_key")
    row = await scoped(VirtualKey).select(VirtualKey.id).where(
        VirtualKey.key_hash == runtime().hasher.hash(reference)).first()
    if row is None:
        raise NotFound("No such key", param="api_key", code="key_not_found")
    return row["id"]


async def spend_logs(query: SpendLogQuery, principal: Principal) -> list[SpendLog]:
    since, before = fields.period(query.start_date, query.end_date)
    select = scoped(UsageRecord).select().where(Reach(principal).spend(UsageRecord)).order_by(
        UsageRecord.started_at, UsageRecord.id, ascending=False)
    if query.api_key is not None:
        select = select.where(UsageRecord.key_id == await _key_id(query.api_key))
    if query.user_id is not None:
        select = select.where(UsageRecord.user_id == fields.identifier(query.user_id, "user_id"))
    if query.team_id is not None:
        select = select.where(UsageRecord.team_id == fields.identifier(query.team_id, "team_id"))
    if query.request_id is not None:
        select = select.where(UsageRecord.request_id == query.request_id)
    if since is not None:
        select = select.where(UsageRecord.started_at >= since)
    if before is not None:
        select = select.where(UsageRecord.started_at < before)
    rows = await select.limit(query.page_size).offset((query.page - 1) * query.page_size)
    return [_log(row) for row in rows]


def _days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """`start_date` / `end_date` (as /spend/logs reads them) as the UTC days they touch, both included:
    the roll-up is per day, so a datetime inside a day takes in the whole day."""
    since, before = fields.period(start, end)
    first = since.astimezone(timezone.utc).date() if since else None
    last = (before - timedelta(microseconds=1)).astimezone(timezone.utc).date() if before else None
    return first, last


def _totals(*columns: Column):
    """A scoped roll-up select of these columns with the summed numbers next to them."""
    return scoped(SpendDaily).select(
        *columns, Sum(SpendDaily.cost, alias="spend"), Sum(SpendDaily.requests, alias="requests"),
        Sum(SpendDaily.prompt_tokens, alias="prompt_tokens"),
        Sum(SpendDaily.completion_tokens, alias="completion_tokens"),
    ).group_by(*columns)


def _within(select, first: date | None, last: date | None):
    if first is not None:
        select = select.where(SpendDaily.day >= first)
    if last is not None:
        select = select.where(SpendDaily.day <= last)
    return select


async def spend_report(query: SpendReportQuery, principal: Principal) -> list[SpendReportRow]:
    """One entry per day (ascending) and group (ascending; no group last); days without requests are absent."""
    if query.group_by not in GROUPS:
        raise InvalidRequest(f"'group_by' must be one of {', '.join(GROUPS)}", param="group_by")
    column, name = GROUPS[query.group_by]
    first, last = _days(query.start_date, query.end_date)
    totals = _totals(SpendDaily.day, column.as_alias("group_value")).where(Reach(principal).spend(SpendDaily))
    rows = await _within(totals, first, last).order_by(
        SpendDaily.day, column)
    return [
        SpendReportRow(date=row["day"], group_by=query.group_by, **{name: row["group_value"]},
                       spend=float(row["spend"]), requests=int(row["requests"]), prompt_tokens=int(row["prompt_tokens"]),
                       completion_tokens=int(row["completion_tokens"]))
        for row in rows
    ]


async def _period_spend(level: str, owner: dict) -> tuple[datetime | None, Decimal | None]:
    """(end of the current budget period, what the ledger recorded in it); the period admission charges now."""
    if owner["max_budget"] is None:
        return None, None
    spec = LevelSpec(level, str(owner["id"]), max_budget=owner["max_budget"],
                     budget_duration=owner["budget_duration"], budget_reset_at=owner["budget_reset_at"])
    period = spec.at(datetime.now(timezone.utc)).period
    row = await scoped(BudgetUsage).select(BudgetUsage.spend).where(
        (BudgetUsage.level == level) & (BudgetUsage.entity_id == owner["id"])
        & (BudgetUsage.period_end == period_end(period))).first()
    return (None if period == LIFETIME else period_end(period)), (row["spend"] if row else Decimal(0))


def _budget_columns(table) -> tuple[Column, ...]:
    return (table.id, table.spend, table.max_budget, table.budget_duration, table.budget_reset_at)


async def spend_summary(principal: Principal, start: str | None, end: str | None) -> SpendSummary:
    """An admin sees the account; any other key sees only itself."""
    first, last = _days(start, end)
    last = last or datetime.now(timezone.utc).date()
    first = first or last - timedelta(days=SUMMARY_DAYS - 1)
    account_id = require_account()
    by_model = _within(_totals(SpendDaily.model_group), first, last)
    by_day = _within(_totals(SpendDaily.day), first, last)
    admin = principal.role in ADMIN_ROLES
    key_id = None if admin else principal.key_id
    if admin:
        scope = "account"
        owner = await Account.select(*_budget_columns(Account)).where(Account.id == account_id).first()
    elif key_id is None:
        # A console session of a user (no key): that user's own spend, never the account's.
        if principal.user_id is None:
            raise PermissionDenied("Only administrators see an account's spend", code="admin_required")
        scope = "user"
        owner = await scoped(User).select(*_budget_columns(User)).where(User.id == principal.user_id).first()
        by_model = by_model.where(SpendDaily.user_id == principal.user_id)
        by_day = by_day.where(SpendDaily.user_id == principal.user_id)
    else:
        scope = "key"
        owner = await scoped(VirtualKey).select(*_budget_columns(VirtualKey)).where(VirtualKey.id == key_id).first()
        by_model = by_model.where(SpendDaily.key_id == key_id)
        by_day = by_day.where(SpendDaily.key_id == key_id)
    if owner is None:  # deleted since the caller was authenticated
        raise NotFound(f"No such {scope}", code=f"{scope}_not_found")
    models = await by_model.order_by(Sum(SpendDaily.cost), ascending=False).order_by(SpendDaily.model_group)
    days = await by_day.order_by(SpendDaily.day)
    period, period_spend = await _period_spend(scope, owner)
    return SpendSummary(
        scope=scope, account_id=account_id, key_id=key_id or UNSET, start_date=first, end_date=last,
        total_spend=float(sum((row["spend"] for row in days), Decimal(0))), lifetime_spend=float(owner["spend"]),
        max_budget=fields.amount(owner["max_budget"]), budget_duration=owner["budget_duration"],
        period_end=period, period_spend=fields.amount(period_spend),
        by_model=[ModelSpend(row["model_group"], float(row["spend"]), int(row["requests"])) for row in models],
        by_day=[DaySpend(row["day"], float(row["spend"]), int(row["requests"])) for row in days],
    )
