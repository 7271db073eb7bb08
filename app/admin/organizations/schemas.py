"""Request and response shapes of /organization/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import LimitsAndSpend, LimitsCreate, LimitsUpdate
from app.admin.teams.schemas import Team


class OrganizationCreate(LimitsCreate):
    organization_alias: str
    models: list[str] = []
    metadata: dict[str, Any] = {}


class OrganizationUpdate(LimitsUpdate):
    organization_id: str
    organization_alias: str | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class OrganizationDelete(msgspec.Struct):
    organization_ids: list[str]


class Organization(LimitsAndSpend):
    organization_id: UUID
    organization_alias: str
    models: list[str]
    metadata: dict[str, Any]
    created_at: datetime


class OrganizationInfo(Organization):
    """An organization with the teams that belong to it (LiteLLM's /organization/info)."""

    teams: list[Team]


class OrganizationsDeleted(msgspec.Struct):
    deleted_organizations: list[str]
