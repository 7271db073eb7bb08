"""Organizations: the level above teams. Its limits bind every key in it (by the key's team or
user), so changing them is published to the account once the audited change has committed. One that
still has teams cannot be deleted; its users are detached from it instead."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import msgspec

from app.admin import fields, grants
from app.admin.organizations.schemas import Organization, OrganizationCreate, OrganizationInfo, OrganizationUpdate
from app.admin.reach import Reach
from app.admin.teams import service as teams_service
from app.audit.record import audited_change, record
from app.auth.principal import Principal
from app.db.piccolo_conf import DB
from app.db.tables import Organization as OrganizationRow
from app.db.tables import Team, User, VirtualKey
from app.lib.errors import InvalidRequest, NotFound
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped

organizations = scoped(OrganizationRow)


def _organization(row: dict) -> Organization:
    return Organization(
        organization_id=row["id"], organization_alias=row["organization_alias"], models=list(row["models"] or []),
        **fields.limits_of(row), spend=float(row["spend"]),
        metadata=row["metadata"] if isinstance(row["metadata"], dict) else {}, created_at=row["created_at"],
    )


async def _row(reference: str, reach: Reach) -> dict:
    row = await organizations.get(
        (OrganizationRow.id == fields.identifier(reference, "organization_id")) & reach.organizations())
    if row is None:
        raise NotFound(f"No organization with id '{reference}'", param="organization_id",
                       code="organization_not_found")
    return row


async def create_organization(data: OrganizationCreate, principal: Principal) -> Organization:
    limits = fields.limits(data)
    grants.grant_budget(principal, limits.get("max_budget"))
    async with audited_change("organization.created", "organization") as change:
        row = await organizations.insert(
            organization_alias=fields.display_name(data.organization_alias, "organization_alias"),
            models=data.models, **limits, metadata=data.metadata,
        )
        change.target_id, change.after = row["id"], row
    return _organization(row)


async def organization_info(reference: str, principal: Principal) -> OrganizationInfo:
    organization = _organization(await _row(reference, Reach(principal)))
    teams = await teams_service.teams_of_organization(organization.organization_id)
    return OrganizationInfo(**msgspec.structs.asdict(organization), teams=teams)


async def list_organizations(principal: Principal) -> list[Organization]:
    rows = await organizations.select().where(Reach(principal).organizations()).order_by(
        OrganizationRow.created_at, OrganizationRow.id)
    return [_organization(row) for row in rows]


async def _models_covering_teams(organization_id: UUID, models: list[str]) -> list[str]:
    """A model list an organization's teams already fit in (the rule /team/new and /team/update apply)."""
    if not models:
        return models
    teams = await scoped(Team).select(Team.id, Team.models).where(Team.organization_id == organization_id)
    outside = sorted({model for team in teams for model in team["models"] or [] if model not in models})
    if outside:
        raise InvalidRequest(f"Teams of this organization still list models outside the new list: {', '.join(outside)}",
                             param="models", code="model_in_use_by_team")
    return models


async def update_organization(data: OrganizationUpdate, principal: Principal) -> Organization:
    row = await _row(data.organization_id, Reach(principal))
    grants.keep_own_bounds(principal, "organization", row["id"], grants.named(data))
    values: dict[Any, Any] = {OrganizationRow.updated_at: datetime.now(timezone.utc)}
    if data.organization_alias is not msgspec.UNSET:
        values[OrganizationRow.organization_alias] = fields.display_name(data.organization_alias,
                                                                          "organization_alias")
    if data.models is not msgspec.UNSET:
        values[OrganizationRow.models] = await _models_covering_teams(row["id"], data.models)
    limits = fields.limits(data, row)
    grants.grant_budget(principal, limits.get("max_budget"))
    values.update({getattr(OrganizationRow, name): value for name, value in limits.items()})
    if data.metadata is not msgspec.UNSET:
        values[OrganizationRow.metadata] = data.metadata
    async with audited_change("organization.updated", "organization", row["id"], before=row) as change:
        await organizations.update(values).where(OrganizationRow.id == row["id"])
        change.after = await organizations.get(OrganizationRow.id == row["id"])
    if limits:
        # The organization's limits are part of the principal of every key in it.
        await runtime().bus.publish("account", str(require_account()))
    return _organization(change.after)


async def delete_organizations(references: list[str], principal: Principal) -> list[str]:
    """All or nothing: an unknown organization fails the call with 404, one that still has teams with 400."""
    if not references:
        raise InvalidRequest("'organization_ids' is empty", param="organization_ids")
    reach = Reach(principal)
    rows = {row["id"]: row for row in [await _row(reference, reach) for reference in references]}
    ids = list(rows)
    async with DB.transaction():
        remaining = await scoped(Team).select(Team.id, Team.organization_id).where(Team.organization_id.is_in(ids))
        if remaining:
            owners = sorted({str(team["organization_id"]) for team in remaining})
            raise InvalidRequest(
                f"Organization {', '.join(owners)} still has {len(remaining)} team(s): move them to another "
                "organization (/team/update) or delete them (/team/delete) first",
                param="organization_ids", code="organization_has_teams")
        detached = await scoped(User).select(User.id, User.organization_id).where(User.organization_id.is_in(ids))
        await scoped(User).update({User.organization_id: None}).where(User.organization_id.is_in(ids))
        await scoped(VirtualKey).update({VirtualKey.organization_id: None}).where(
            VirtualKey.organization_id.is_in(ids))
        for organization in await organizations.delete().where(OrganizationRow.id.is_in(ids)).returning(
                OrganizationRow.id):
            ident = organization["id"]
            users = [user["id"] for user in detached if user["organization_id"] == ident]
            await record("organization.deleted", target_type="organization", target_id=ident, before=rows[ident],
                         detail={"detached_users": users})
    # Keys of the detached users carried the organization in their principal.
    await runtime().bus.publish("account", str(require_account()))
    return [str(ident) for ident in ids]
