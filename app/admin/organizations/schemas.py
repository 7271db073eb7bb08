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
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    metadata: dict[str, Any] = {}


class OrganizationUpdate(msgspec.Struct):
    organization_id: str
    organization_alias: str | msgspec.UnsetType = msgspec.UNSET
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    max_budget: float | None | msgspec.UnsetType = msgspec.UNSET
    budget_duration: str | None | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    tpm_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    max_parallel_requests: int | None | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class OrganizationDelete(msgspec.Struct):
    organization_ids: list[str]


class Organization(msgspec.Struct):
    organization_id: UUID
    organization_alias: str
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    max_parallel_requests: int | None
    spend: float
    metadata: dict[str, Any]
    created_at: datetime


class OrganizationInfo(Organization):
    """An organization with the teams that belong to it (LiteLLM's /organization/info)."""

    teams: list[Team]


class OrganizationsDeleted(msgspec.Struct):
    deleted_organizations: list[str]
