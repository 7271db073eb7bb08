"""People of an account: their role, limits, organization and teams. A user's role, limits and
organization are part of the principal of every key they hold, so changes are published to
the account (after their audited transaction commits); keys that stop existing are published by hash.

A change of `user_role` is one event whose action is `user.role_changed` (its diff also holds any
other field changed by the same call); other changes are `user.updated`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from app.admin import fields, grants
from app.admin.reach import Reach
from app.admin.teams import service as teams_service
from app.admin.users.schemas import User, UserCreate, UserInfoResponse, UserList, UserUpdate
from app.audit.record import audited_change, record
from app.auth.principal import INTERNAL_USER, ROLES, SUPER_ADMIN, Principal
from app.db.piccolo_conf import DB
from app.db.tables import Organization, Team, TeamMembership, VirtualKey
from app.db.tables import User as UserRow
from app.lib.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped

GRANTABLE_ROLES = tuple(role for role in ROLES if role != SUPER_ADMIN)

users = scoped(UserRow)
memberships = scoped(TeamMembership)
keys = scoped(VirtualKey)


def _role(value: str | None) -> str:
    if value is None:
        return INTERNAL_USER
    if value == SUPER_ADMIN:
        raise PermissionDenied("The super admin role cannot be granted through the API", param="user_role",
                               code="role_not_grantable")
    if value not in GRANTABLE_ROLES:
        raise InvalidRequest(f"'user_role' must be one of: {', '.join(GRANTABLE_ROLES)}", param="user_role")
    return value


def _user(row: dict, teams: list[UUID]) -> User:
    return User(
        user_id=row["id"], user_email=row["user_email"], user_role=row["user_role"], teams=teams,
        **fields.limits_of(row), spend=float(row["spend"]),
        organization_id=row["organization_id"],
        metadata=row["metadata"] if isinstance(row["metadata"], dict) else {}, created_at=row["created_at"],
    )


async def _teams_of(user_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    if not user_ids:
        return {}
    links = await memberships.select(TeamMembership.user_id, TeamMembership.team_id).where(
        TeamMembership.user_id.is_in(user_ids)).order_by(TeamMembership.created_at)
    teams: dict[UUID, list[UUID]] = {}
    for link in links:
        teams.setdefault(link["user_id"], []).append(link["team_id"])
    return teams


async def _view(row: dict) -> User:
    return _user(row, (await _teams_of([row["id"]])).get(row["id"], []))


async def _row(reference: str, reach: Reach) -> dict:
    row = await users.get((UserRow.id == fields.identifier(reference, "user_id")) & reach.users())
    if row is None:
        raise NotFound(f"No user with id '{reference}'", param="user_id", code="user_not_found")
    return row


async def _organization_id(reference: str | None, reach: Reach) -> UUID | None:
    ident = fields.identifier(reference, "organization_id")
    if ident is None and not reach.whole_account:
        raise PermissionDenied("Only an account admin takes a user out of every organization",
                               param="organization_id", code="organization_required")
    if ident is not None and not await scoped(Organization).exists().where(
            (Organization.id == ident) & reach.organizations()):
        raise NotFound(f"No organization with id '{reference}'", param="organization_id",
                       code="organization_not_found")
    return ident


async def _team_ids(references: list[str], reach: Reach) -> list[UUID]:
    named = {reference: fields.identifier(reference, "teams") for reference in references}
    ids = list(dict.fromkeys(named.values()))
    found = {row["id"] for row in await scoped(Team).select(Team.id).where(
        Team.id.is_in(ids) & reach.teams())} if ids else set()
    for reference, ident in named.items():
        if ident not in found:
            raise NotFound(f"No team with id '{reference}'", param="teams", code="team_not_found")
    return ids  # type: ignore[return-value]


def _taken(address: str) -> Conflict:
    return Conflict(f"A user with the email '{address}' already exists in this account", param="user_email",
                    code="user_exists")


async def create_user(data: UserCreate, principal: Principal) -> User:
    """An org admin's new users join its organization, a team admin's its team, unless they name one in reach."""
    reach = Reach(principal)
    address = fields.email(data.user_email)
    role = _role(data.user_role)
    grants.grant_role(principal, role)
    limits = fields.limits(data)
    grants.grant_budget(principal, limits.get("max_budget"))
    if data.organization_id is None and reach.level == "organization":
        organization_id = reach.anchor
    else:
        organization_id = await _organization_id(data.organization_id, reach) if data.organization_id else None
    team_ids = await _team_ids(data.teams, reach) if data.teams or reach.level != "team" else [reach.anchor]
    try:
        async with audited_change("user.created", "user") as change:
            row = await users.insert(user_email=address, user_role=role, **limits,
                                     organization_id=organization_id, metadata=data.metadata)
            for team_id in team_ids:
                await memberships.insert(team_id=team_id, user_id=row["id"], role="user")
            change.target_id, change.after = row["id"], {**row, "teams": team_ids}
    except asyncpg.UniqueViolationError:
        raise _taken(address) from None
    return _user(row, team_ids)


async def user_info(reference: str | None, principal: Principal) -> UserInfoResponse:
    """A user of the caller's reach, with the keys and teams of theirs the caller reaches too;
    without `user_id`, the caller themselves."""
    if reference is None:
        if principal.user_id is None:
            raise InvalidRequest("'user_id' is required", param="user_id")
        reference = str(principal.user_id)
    reach = Reach(principal)
    row = await _row(reference, reach)
    user = await _view(row)
    key_rows = await keys.select(VirtualKey.id).where((VirtualKey.user_id == row["id"]) & reach.keys()).order_by(
        VirtualKey.created_at)
    return UserInfoResponse(user_id=user.user_id, user_info=user, keys=[key["id"] for key in key_rows],
                            teams=await teams_service.teams_by_id(user.teams, reach))


async def list_users(page: int, page_size: int, role: str | None, principal: Principal) -> UserList:
    reach = Reach(principal).users()
    query = users.select().where(reach).order_by(UserRow.created_at, UserRow.id)
    count = users.count().where(reach)
    if role is not None:
        query = query.where(UserRow.user_role == role)
        count = count.where(UserRow.user_role == role)
    total = await count
    rows = await query.limit(page_size).offset((page - 1) * page_size)
    teams = await _teams_of([row["id"] for row in rows])
    return UserList(users=[_user(row, teams.get(row["id"], [])) for row in rows], total=total, page=page,
                    page_size=page_size, total_pages=fields.total_pages(total, page_size))


async def update_user(data: UserUpdate, principal: Principal) -> User:
    reach = Reach(principal)
    row = await _row(data.user_id, reach)
    grants.keep_own_bounds(principal, "user", row["id"], grants.named(data))
    grants.act_on(principal, row["user_role"], "user")
    values: dict[Any, Any] = {UserRow.updated_at: datetime.now(timezone.utc)}
    address = None
    if data.user_email is not msgspec.UNSET:
        address = values[UserRow.user_email] = fields.email(data.user_email)
    if data.user_role is not msgspec.UNSET:
        values[UserRow.user_role] = _role(data.user_role)
        grants.grant_role(principal, values[UserRow.user_role])
    limits = fields.limits(data, row)
    grants.grant_budget(principal, limits.get("max_budget"))
    values.update({getattr(UserRow, name): value for name, value in limits.items()})
    if data.organization_id is not msgspec.UNSET:
        values[UserRow.organization_id] = await _organization_id(data.organization_id, reach)
    if data.metadata is not msgspec.UNSET:
        values[UserRow.metadata] = data.metadata
    role_changed = values.get(UserRow.user_role, row["user_role"]) != row["user_role"]
    try:
        async with audited_change("user.role_changed" if role_changed else "user.updated", "user", row["id"],
                                  before=row) as change:
            await users.update(values).where(UserRow.id == row["id"])
            change.after = await users.get(UserRow.id == row["id"])
    except asyncpg.UniqueViolationError:
        raise _taken(address or "") from None
    if limits or UserRow.user_role in values or UserRow.organization_id in values:
        await runtime().bus.publish("account", str(require_account()))
    return await _view(change.after)


async def delete_users(references: list[str], principal: Principal) -> tuple[list[str], list[str]]:
    """All or nothing: an unknown user (or another account's, or one outside the caller's reach) fails
    the whole call with 404, a user above the caller with 403. A user's keys and team memberships go with them."""
    if not references:
        raise InvalidRequest("'user_ids' is empty", param="user_ids")
    reach = Reach(principal)
    rows = [await _row(reference, reach) for reference in references]
    for row in rows:
        grants.act_on(principal, row["user_role"], "user")
    ids = list(dict.fromkeys([row["id"] for row in rows]))
    by_id = {row["id"]: row for row in rows}
    async with DB.transaction():
        revoked = await keys.delete().where(VirtualKey.user_id.is_in(ids)).returning(VirtualKey.id,
                                                                                      VirtualKey.key_hash,
                                                                                      VirtualKey.user_id)
        links = await memberships.delete().where(TeamMembership.user_id.is_in(ids)).returning(
            TeamMembership.user_id, TeamMembership.team_id)
        gone = await users.delete().where(UserRow.id.is_in(ids)).returning(UserRow.id)
        for user in gone:
            # What went with the user: their keys (by id) and team memberships.
            await record("user.deleted", target_type="user", target_id=user["id"], before=by_id[user["id"]],
                         detail={"revoked_keys": [key["id"] for key in revoked if key["user_id"] == user["id"]],
                                 "teams": [link["team_id"] for link in links if link["user_id"] == user["id"]]})
    for key in revoked:
        await runtime().bus.publish("key", key["key_hash"])
    return [str(ident) for ident in ids], [str(key["id"]) for key in revoked]
