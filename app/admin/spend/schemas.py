"""Shapes of /spend/logs (LiteLLM's field names, including its camelCase times), /global/spend/report
and /spend/summary (ours). Money is a JSON number in USD, as everywhere in the management API."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType


class SpendLogQuery(msgspec.Struct, frozen=True):
    api_key: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    request_id: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    page: int = 1
    page_size: int = 100


class SpendLog(msgspec.Struct):
    request_id: str
    call_type: str
    model: str
    model_group: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    spend: float
    api_key: UUID | None
    user: UUID | None
    team_id: UUID | None
    account_id: UUID
    start_time: datetime = msgspec.field(name="startTime")
    end_time: datetime = msgspec.field(name="endTime")
    status: str
    deployment_id: UUID | None
    provider: str
    latency_ms: int


class SpendReportQuery(msgspec.Struct, frozen=True):
    start_date: str | None = None
    end_date: str | None = None
    group_by: str = "model"


class SpendReportRow(msgspec.Struct, kw_only=True):
    """One UTC day × one group. Only the field named by `group_by` is present: `model` (the model
    group), or `key_id` / `team_id` / `user_id` / `organization_id`, null for requests without one."""

    date: date
    group_by: str
    model: str | UnsetType = UNSET
    key_id: UUID | None | UnsetType = UNSET
    team_id: UUID | None | UnsetType = UNSET
    user_id: UUID | None | UnsetType = UNSET
    organization_id: UUID | None | UnsetType = UNSET
    spend: float
    requests: int
    prompt_tokens: int
    completion_tokens: int


class ModelSpend(msgspec.Struct):
    model_group: str
    spend: float
    requests: int


class DaySpend(msgspec.Struct):
    date: date
    spend: float
    requests: int


class SpendSummary(msgspec.Struct, kw_only=True):
    """What the caller's scope spent: the account for an admin, the key itself for any other key.

    `total_spend`, `by_model` and `by_day` cover the UTC days `start_date`..`end_date` (both included);
    `lifetime_spend` is everything since the key or account was made. `period_spend` is what the
    ledger has recorded for the current budget period (`period_end`; null for a lifetime budget),
    present when the scope has a `max_budget`.
    """

    scope: str  # "account" | "user" (a console session) | "key"
    account_id: UUID
    key_id: UUID | UnsetType = UNSET
    start_date: date
    end_date: date
    total_spend: float
    lifetime_spend: float
    max_budget: float | None
    budget_duration: str | None
    period_end: datetime | None
    period_spend: float | None
    by_model: list[ModelSpend]
    by_day: list[DaySpend]
