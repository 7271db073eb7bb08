"""Request and response shapes of /user/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import LimitsAndSpend, LimitsCreate, LimitsUpdate
from app.admin.teams.schemas import Team


class UserCreate(LimitsCreate):
    user_email: str
    user_role: str | None = None
    teams: list[str] = []
    organization_id: str | None = None
    metadata: dict[str, Any] = {}


class UserUpdate(LimitsUpdate):
    user_id: str
    user_email: str | msgspec.UnsetType = msgspec.UNSET
    user_role: str | msgspec.UnsetType = msgspec.UNSET
    organization_id: str | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class UserDelete(msgspec.Struct):
    user_ids: list[str]


class User(LimitsAndSpend):
    user_id: UUID
    user_email: str | None
    user_role: str
    teams: list[UUID]
    organization_id: UUID | None
    metadata: dict[str, Any]
    created_at: datetime


class UserInfoResponse(msgspec.Struct):
    user_id: UUID
    user_info: User
    keys: list[UUID]
    teams: list[Team]


class UserList(msgspec.Struct):
    users: list[User]
    total: int
    page: int
    page_size: int
    total_pages: int


class UsersDeleted(msgspec.Struct):
    deleted_users: list[str]
    deleted_keys: list[str]
