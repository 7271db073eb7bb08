"""Request and response shapes of /organization/* (LiteLLM's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.admin.teams.schemas import Team


class OrganizationCreate(msgspec.Struct):
    organization_alias: str
    models: list[str] = []
    max_budget: float | None = None
    metadata: dict[str, Any] = {}


class OrganizationUpdate(msgspec.Struct):
    organization_id: str
    organization_alias: str | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class OrganizationDelete(msgspec.Struct):
    organization_ids: list[str]


class Organization(msgspec.Struct):
    organization_id: UUID
    organization_alias: str
    models: list[str]
    max_budget: float | None
    spend: float
    metadata: dict[str, Any]
    created_at: datetime


class OrganizationInfo(Organization):
    """An organization with the teams that belong to it (LiteLLM's /organization/info)."""

    teams: list[Team]


class OrganizationsDeleted(msgspec.Struct):
    deleted_organizations: list[str]
