"""The budget and rate-limit fields every level (account, organization, team, user, key) takes and shows.

Each level's own create, update and answer shapes inherit them. They are keyword-only, so a level's
required fields may follow them, and a level's own fields come first in its answers.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class LimitsCreate(msgspec.Struct, kw_only=True):
    max_budget: float | None = None
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None


class LimitsUpdate(msgspec.Struct, kw_only=True):
    """Only the fields a request names change; `null` clears a limit."""

    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    budget_duration: str | None | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    tpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    max_parallel_requests: int | None | msgspec.UnsetType = msgspec.UNSET


class Limits(msgspec.Struct, kw_only=True):
    """A level's limits as answers show them (`fields.limits_of`): `budget_reset_at` ends the current period."""

    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    max_parallel_requests: int | None


class LimitsAndSpend(Limits, kw_only=True):
    spend: float
