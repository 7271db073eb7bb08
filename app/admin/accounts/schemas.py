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
    metadata: dict[str, Any] = {}


class AccountUpdate(msgspec.Struct):
    name: str | msgspec.UnsetType = msgspec.UNSET
    domain: str | None | msgspec.UnsetType = msgspec.UNSET
    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class AdminAdd(msgspec.Struct):
    email: str


class Account(msgspec.Struct):
    account_id: UUID
    name: str
    domain: str | None
    admin_emails: list[str]
    max_budget: float | None
    spend: float
    metadata: dict[str, Any]
    status: str
    created_at: datetime


class AccountList(msgspec.Struct):
    accounts: list[Account]
    total: int
