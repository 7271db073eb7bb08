"""Request and response shapes of /accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import LimitsAndSpend, LimitsCreate, LimitsUpdate


class AccountCreate(LimitsCreate):
    name: str
    domain: str | None = None
    admin_emails: list[str] = []
    price_markup_percent: float = 0
    metadata: dict[str, Any] = {}


class AccountUpdate(LimitsUpdate):
    name: str | msgspec.UnsetType = msgspec.UNSET
    domain: str | None | msgspec.UnsetType = msgspec.UNSET
    price_markup_percent: float | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class AdminAdd(msgspec.Struct):
    email: str


class Account(LimitsAndSpend):
    account_id: UUID
    name: str
    domain: str | None
    admin_emails: list[str]
    price_markup_percent: float
    metadata: dict[str, Any]
    status: str
    created_at: datetime


class AccountList(msgspec.Struct):
    accounts: list[Account]
    total: int
