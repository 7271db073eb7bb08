"""Request and response shapes of /team/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import LimitsAndSpend, LimitsCreate, LimitsUpdate


class Member(msgspec.Struct):
    """A user named by id or by email, with their role in the team."""

    user_id: str | None = None
    user_email: str | None = None
    role: str = "user"


class TeamCreate(LimitsCreate):
    team_alias: str
    organization_id: str | None = None
    models: list[str] = []
    metadata: dict[str, Any] = {}
    # LiteLLM scripts send `members_with_roles`; a bare string in `members` is a user id.
    members: list[Member | str] = []
    members_with_roles: list[Member] = []


class TeamUpdate(LimitsUpdate):
    team_id: str
    team_alias: str | msgspec.UnsetType = msgspec.UNSET
    organization_id: str | None | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    blocked: bool | msgspec.UnsetType = msgspec.UNSET


class MemberAdd(msgspec.Struct):
    team_id: str
    member: Member | list[Member]


class MemberDelete(msgspec.Struct):
    team_id: str
    user_id: str | None = None
    user_email: str | None = None


class TeamDelete(msgspec.Struct):
    team_ids: list[str]


class TeamMember(msgspec.Struct):
    user_id: UUID
    user_email: str | None
    role: str


class Team(LimitsAndSpend):
    team_id: UUID
    team_alias: str
    organization_id: UUID | None
    models: list[str]
    blocked: bool
    metadata: dict[str, Any]
    members: list[TeamMember]
    created_at: datetime


class TeamInfoResponse(msgspec.Struct):
    team_id: UUID
    team_info: Team
    keys: list[UUID]


class TeamsDeleted(msgspec.Struct):
    deleted_teams: list[str]
    deleted_keys: list[str]
