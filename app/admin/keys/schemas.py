"""Request and response shapes of /key/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import Limits, LimitsAndSpend, LimitsCreate, LimitsUpdate


class KeyGenerate(LimitsCreate):
    key_alias: str | None = None
    models: list[str] = []
    user_id: str | None = None
    team_id: str | None = None
    duration: str | None = None
    metadata: dict[str, Any] = {}


class KeyUpdate(LimitsUpdate):
    key: str
    key_alias: str | None | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    user_id: str | None | msgspec.UnsetType = msgspec.UNSET
    team_id: str | None | msgspec.UnsetType = msgspec.UNSET
    duration: str | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    blocked: bool | msgspec.UnsetType = msgspec.UNSET


class KeyDelete(msgspec.Struct):
    keys: list[str]


class KeyInfo(LimitsAndSpend):
    token: UUID
    key_name: str
    key_alias: str | None
    account_id: UUID
    user_id: UUID | None
    team_id: UUID | None
    organization_id: UUID | None
    models: list[str]
    expires: datetime | None
    blocked: bool
    metadata: dict[str, Any]
    created_at: datetime


class GeneratedKey(Limits):
    """The one answer that carries the key itself: it is never shown again."""

    key: str
    token: UUID
    key_name: str
    key_alias: str | None
    expires: datetime | None
    models: list[str]
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
