"""Request and response shapes of /accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AccountCreate(msgspec.Struct):
    name: str
    domain: str | None = None
    admin_emails: list[str] = []
    max_budget: float | None = None
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    price_markup_percent: float = 0
    metadata: dict[str, Any] = {}


class AccountUpdate(msgspec.Struct):
    name: str | msgspec.UnsetType = msgspec.UNSET
    domain: str | None | msgspec.UnsetType = msgspec.UNSET
    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    budget_duration: str | None | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    tpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    max_parallel_requests: int | None | msgspec.UnsetType = msgspec.UNSET
    price_markup_percent: float | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class AdminAdd(msgspec.Struct):
    email: str


class Account(msgspec.Struct):
    account_id: UUID
    name: str
    domain: str | None
    admin_emails: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    max_parallel_requests: int | None
    price_markup_percent: float
    spend: float
    metadata: dict[str, Any]
    status: str
    created_at: datetime


class AccountList(msgspec.Struct):
    accounts: list[Account]
    total: int
