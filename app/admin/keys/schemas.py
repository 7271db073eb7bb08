"""Request and response shapes of /key/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class KeyGenerate(msgspec.Struct):
    key_alias: str | None = None
    models: list[str] = []
    max_budget: float | None = None
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    user_id: str | None = None
    team_id: str | None = None
    duration: str | None = None
    metadata: dict[str, Any] = {}


class KeyUpdate(msgspec.Struct):
    key: str
    key_alias: str | None | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    budget_duration: str | None | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    tpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    max_parallel_requests: int | None | msgspec.UnsetType = msgspec.UNSET
    user_id: str | None | msgspec.UnsetType = msgspec.UNSET
    team_id: str | None | msgspec.UnsetType = msgspec.UNSET
    duration: str | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    blocked: bool | msgspec.UnsetType = msgspec.UNSET


class KeyDelete(msgspec.Struct):
    keys: list[str]


class KeyInfo(msgspec.Struct):
    token: UUID
    key_name: str
    key_alias: str | None
    account_id: UUID
    user_id: UUID | None
    team_id: UUID | None
    organization_id: UUID | None
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    max_parallel_requests: int | None
    spend: float
    expires: datetime | None
    blocked: bool
    metadata: dict[str, Any]
    created_at: datetime


class GeneratedKey(msgspec.Struct):
    """The one answer that carries the key itself: it is never shown again."""

    key: str
    token: UUID
    key_name: str
    key_alias: str | None
    expires: datetime | None
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    max_parallel_requests: int | None
    user_id: UUID | None
    team_id: UUID | None
    metadata: dict[str, Any]


class KeyInfoResponse(msgspec.Struct):
    key: UUID
    info: KeyInfo


class KeyListResponse(msgspec.Struct):
    keys: list[Any]
    total_count: int
    current_page: int
    total_pages: int


class KeysDeleted(msgspec.Struct):
    deleted_keys: list[str]
