"""Teams and their members. A team's models, limits, organization and `blocked` flag are part of the
principal of every key in it, so each change to them is published to the whole account once its
audited transaction has committed; keys that stop existing are published by hash. A membership change
is one `team.member_added` / `team.member_updated` / `team.member_removed` event per user."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from piccolo.columns.combination import WhereRaw

from app.admin import fields, grants
from app.admin.reach import Reach
from app.admin.teams.schemas import Member, MemberAdd, MemberDelete, Team, TeamCreate, TeamMember, TeamUpdate
from app.audit.record import audited_change, record
from app.auth.principal import Principal
from app.db.piccolo_conf import DB
from app.db.tables import Organization, TeamMembership, User, VirtualKey
from app.db.tables import Team as TeamRow
from app.lib.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped

MEMBER_ROLES = ("admin", "user")

teams = scoped(TeamRow)
memberships = scoped(TeamMembership)
keys = scoped(VirtualKey)


def _team(row: dict, members: list[TeamMember]) -> Team:
    return Team(
        team_id=row["id"], team_alias=row["team_alias"], organization_id=row["organization_id"],
        models=list(row["models"] or []), **fields.limits_of(row), spend=float(row["spend"]), blocked=row["blocked"],
        metadata=row["metadata"] if isinstance(row["metadata"], dict) else {}, members=members,
        created_at=row["created_at"],
    )


async def _members_of(team_ids: list[UUID]) -> dict[UUID, list[TeamMember]]:
    if not team_ids:
        return {}
    links = await memberships.select(TeamMembership.team_id, TeamMembership.user_id, TeamMembership.role).where(
        TeamMembership.team_id.is_in(team_ids)).order_by(TeamMembership.created_at)
    user_ids = list({link["user_id"] for link in links})
    emails = {row["id"]: row["user_email"] for row in await scoped(User).select(User.id, User.user_email).where(
        User.id.is_in(user_ids))} if user_ids else {}
    members: dict[UUID, list[TeamMember]] = {}
    for link in links:
        members.setdefault(link["team_id"], []).append(
            TeamMember(user_id=link["user_id"], user_email=emails.get(link["user_id"]), role=link["role"]))
    return members


async def _views(rows: list[dict]) -> list[Team]:
    members = await _members_of([row["id"] for row in rows])
    return [_team(row, members.get(row["id"], [])) for row in rows]


async def teams_by_id(team_ids: list[UUID], reach: Reach) -> list[Team]:
    """The teams with these ids (of the current account, in the caller's reach), in the order asked."""
    if not team_ids:
        return []
    rows = await teams.select().where(TeamRow.id.is_in(team_ids) & reach.teams())
    views = {team.team_id: team for team in await _views(rows)}
    return [views[ident] for ident in team_ids if ident in views]


async def teams_of_organization(organization_id: UUID) -> list[Team]:
    return await _views(await teams.select().where(TeamRow.organization_id == organization_id).order_by(
        TeamRow.created_at))


async def _row(reference: str, reach: Reach) -> dict:
    row = await teams.get((TeamRow.id == fields.identifier(reference, "team_id")) & reach.teams())
    if row is None:
        raise NotFound(f"No team with id '{reference}'", param="team_id", code="team_not_found")
    return row


async def _organization(reference: str | None, reach: Reach) -> dict | None:
    """The organization named, in the caller's reach; a team below an org admin stays in its organization."""
    ident = fields.identifier(reference, "organization_id")
    if ident is None:
        if not reach.whole_account:
            raise PermissionDenied("Only an account admin keeps a team outside every organization",
                                   param="organization_id", code="organization_required")
        return None
    row = await scoped(Organization).get((Organization.id == ident) & reach.organizations())
    if row is None:
        raise NotFound(f"No organization with id '{reference}'", param="organization_id",
                       code="organization_not_found")
    return row


def _models_within(models: list[str], organization: dict | None) -> list[str]:
    """An organization with a model list bounds the models its teams may list."""
    allowed = list(organization["models"] or []) if organization else []
    outside = [model for model in models if allowed and model not in allowed]
    if outside:
        raise InvalidRequest(f"The team's organization does not allow the models: {', '.join(outside)}",
                             param="models", code="model_not_in_organization")
    return models


def _role(value: str, param: str) -> str:
    if value not in MEMBER_ROLES:
        raise InvalidRequest(f"'{param}' must be 'admin' or 'user'", param=param)
    return value


def _field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


async def _known_users(ids: set[UUID], emails: set[str],
                       reach: Reach) -> tuple[dict[UUID, str | None], dict[str, UUID]]:
    """Users of this account in the caller's reach among these ids (→ email) and these lower-cased emails (→ id)."""
    by_id: dict[UUID, str | None] = {}
    by_email: dict[str, UUID] = {}
    if ids:
        rows = await scoped(User).select(User.id, User.user_email).where(User.id.is_in(list(ids)) & reach.users())
        by_id = {row["id"]: row["user_email"] for row in rows}
    if emails:
        rows = await scoped(User).select(User.id, User.user_email).where(
            WhereRaw("lower(user_email) = ANY({})", list(emails)) & reach.users())
        by_email = {row["user_email"].lower(): row["id"] for row in rows}
    return by_id, by_email


async def _resolve(members: list[Member], prefix: str, reach: Reach) -> dict[UUID, str]:
    """Each member's user id (named by id or email, looked up in the caller's reach; else 404) → role."""
    named: list[tuple[Member, UUID | None, str | None]] = []
    for member in members:
        if member.user_id is None and member.user_email is None:
            raise InvalidRequest("Name the member by 'user_id' or 'user_email'", param=_field(prefix, "user_id"))
        _role(member.role, _field(prefix, "role"))
        address = fields.email(member.user_email, _field(prefix, "user_email")) if member.user_email else None
        named.append((member, fields.identifier(member.user_id, _field(prefix, "user_id")), address))
    by_id, by_email = await _known_users({ident for _, ident, _ in named if ident},
                                         {address for _, ident, address in named if not ident and address}, reach)
    resolved: dict[UUID, str] = {}
    for member, ident, address in named:
        if ident is not None:
            if ident not in by_id:
                raise NotFound(f"No user with id '{member.user_id}'", param=_field(prefix, "user_id"),
                               code="user_not_found")
            if address is not None and (by_id[ident] or "").lower() != address:
                raise InvalidRequest(f"User '{member.user_id}' does not have the email '{member.user_email}'",
                                     param=_field(prefix, "user_email"))
            user_id = ident
        else:
            if address not in by_email:
                raise NotFound(f"No user with email '{member.user_email}': create it with /user/new first",
                               param=_field(prefix, "user_email"), code="user_not_found")
            user_id = by_email[address]
        resolved[user_id] = member.role  # a user named twice keeps the last role given
    return resolved


def _requested_members(data: TeamCreate) -> list[Member]:
    named = [Member(user_id=entry) if isinstance(entry, str) else entry for entry in data.members]
    return named + list(data.members_with_roles)


async def _act_on_members(principal: Principal, user_ids: list[UUID]) -> None:
    rows = await scoped(User).select(User.user_role).where(User.id.is_in(user_ids)) if user_ids else []
    for row in rows:
        grants.act_on(principal, row["user_role"], "membership")


async def create_team(data: TeamCreate, principal: Principal) -> Team:
    """An org admin's teams are its organization's unless it names one in its reach."""
    reach = Reach(principal)
    default = str(reach.anchor) if reach.level == "organization" else None
    organization = await _organization(data.organization_id or default, reach)
    limits = fields.limits(data)
    grants.grant_budget(principal, limits.get("max_budget"))
    values: dict[str, Any] = dict(
        team_alias=fields.display_name(data.team_alias, "team_alias"),
        organization_id=organization["id"] if organization else None,
        models=_models_within(data.models, organization), **limits, metadata=data.metadata,
    )
    members = await _resolve(_requested_members(data), "members", reach)
    await _act_on_members(principal, list(members))
    async with audited_change("team.created", "team") as change:
        row = await teams.insert(**values)
        for user_id, role in members.items():
            await memberships.insert(team_id=row["id"], user_id=user_id, role=role)
        change.target_id = row["id"]
        change.after = {**row, "members": [{"user_id": user_id, "role": role} for user_id, role in members.items()]}
    return (await _views([row]))[0]


async def team_info(reference: str, principal: Principal) -> tuple[Team, list[UUID]]:
    reach = Reach(principal)
    row = await _row(reference, reach)
    key_rows = await keys.select(VirtualKey.id).where((VirtualKey.team_id == row["id"]) & reach.keys()).order_by(
        VirtualKey.created_at)
    return (await _views([row]))[0], [key["id"] for key in key_rows]


async def list_teams(organization_id: str | None, user_id: str | None, principal: Principal) -> list[Team]:
    reach = Reach(principal)
    query = teams.select().where(reach.teams()).order_by(TeamRow.created_at, TeamRow.id)
    if organization_id is not None:
        organization = await _organization(organization_id, reach)
        assert organization is not None
        query = query.where(TeamRow.organization_id == organization["id"])
    if user_id is not None:
        user = fields.identifier(user_id, "user_id")
        if not await scoped(User).exists().where((User.id == user) & reach.users()):
            raise NotFound(f"No user with id '{user_id}'", param="user_id", code="user_not_found")
        links = await memberships.select(TeamMembership.team_id).where(TeamMembership.user_id == user)
        if not links:
            return []
        query = query.where(TeamRow.id.is_in([link["team_id"] for link in links]))
    return await _views(await query)


async def update_team(data: TeamUpdate, principal: Principal) -> Team:
    reach = Reach(principal)
    row = await _row(data.team_id, reach)
    grants.keep_own_bounds(principal, "team", row["id"], grants.named(data))
    values: dict[Any, Any] = {TeamRow.updated_at: datetime.now(timezone.utc)}
    organization_changed = data.organization_id is not msgspec.UNSET
    if organization_changed:
        organization = await _organization(data.organization_id, reach)  # type: ignore[arg-type]
        values[TeamRow.organization_id] = organization["id"] if organization else None
    else:
        organization = await scoped(Organization).get(Organization.id == row["organization_id"]) \
            if row["organization_id"] else None
    if data.models is not msgspec.UNSET or organization_changed:
        models = data.models if data.models is not msgspec.UNSET else list(row["models"] or [])
        values[TeamRow.models] = _models_within(models, organization)
    if data.team_alias is not msgspec.UNSET:
        values[TeamRow.team_alias] = fields.display_name(data.team_alias, "team_alias")
    limits = fields.limits(data, row)
    grants.grant_budget(principal, limits.get("max_budget"))
    values.update({getattr(TeamRow, name): value for name, value in limits.items()})
    if data.metadata is not msgspec.UNSET:
        values[TeamRow.metadata] = data.metadata
    if data.blocked is not msgspec.UNSET:
        values[TeamRow.blocked] = data.blocked
    async with audited_change(_update_action(row, values), "team", row["id"], before=row) as change:
        await teams.update(values).where(TeamRow.id == row["id"])
        if organization_changed:
            # A key records its team's organization when it is made; it moves with its team.
            await keys.update({VirtualKey.organization_id: values[TeamRow.organization_id]}).where(
                VirtualKey.team_id == row["id"])
        change.after = await teams.get(TeamRow.id == row["id"])
    await runtime().bus.publish("account", str(require_account()))
    return (await _views([change.after]))[0]


def _update_action(row: dict, values: dict) -> str:
    blocked = values.get(TeamRow.blocked, row["blocked"])
    if blocked != row["blocked"]:
        return "team.blocked" if blocked else "team.unblocked"
    return "team.updated"


async def add_members(data: MemberAdd, principal: Principal) -> Team:
    """Adds users to a team; a user who is already a member gets the role given (so a script can re-run)."""
    reach = Reach(principal)
    row = await _row(data.team_id, reach)
    requested = data.member if isinstance(data.member, list) else [data.member]
    if not requested:
        raise InvalidRequest("'member' names nobody", param="member")
    members = await _resolve(requested, "member", reach)
    await _act_on_members(principal, list(members))
    try:
        async with DB.transaction():
            existing = {link["user_id"]: link["role"] for link in await memberships.select(
                TeamMembership.user_id, TeamMembership.role).where(
                (TeamMembership.team_id == row["id"]) & TeamMembership.user_id.is_in(list(members)))}
            for user_id, role in members.items():
                if user_id in existing:
                    await memberships.update({TeamMembership.role: role}).where(
                        (TeamMembership.team_id == row["id"]) & (TeamMembership.user_id == user_id))
                    await record("team.member_updated", target_type="team", target_id=row["id"],
                                 before={"user_id": user_id, "role": existing[user_id]},
                                 after={"user_id": user_id, "role": role}, detail={"user_id": user_id})
                else:
                    await memberships.insert(team_id=row["id"], user_id=user_id, role=role)
                    await record("team.member_added", target_type="team", target_id=row["id"],
                                 after={"user_id": user_id, "role": role}, detail={"user_id": user_id})
    except asyncpg.UniqueViolationError:
        raise Conflict("The team's members changed at the same time; try again", param="member") from None
    return (await _views([row]))[0]


async def remove_member(data: MemberDelete, principal: Principal) -> Team:
    """Takes a user out of a team, and revokes the keys they hold in that team."""
    reach = Reach(principal)
    row = await _row(data.team_id, reach)
    member = Member(user_id=data.user_id, user_email=data.user_email)
    user_id = next(iter(await _resolve([member], "", reach)))
    await _act_on_members(principal, [user_id])
    async with DB.transaction():
        removed = await memberships.delete().where(
            (TeamMembership.team_id == row["id"]) & (TeamMembership.user_id == user_id)).returning(
            TeamMembership.id, TeamMembership.role)
        if not removed:
            raise NotFound(f"User '{user_id}' is not a member of team '{row['id']}'", param="user_id",
                           code="member_not_found")
        revoked = await keys.delete().where(
            (VirtualKey.team_id == row["id"]) & (VirtualKey.user_id == user_id)).returning(VirtualKey.id,
                                                                                           VirtualKey.key_hash)
        await record("team.member_removed", target_type="team", target_id=row["id"],
                     before={"user_id": user_id, "role": removed[0]["role"]},
                     detail={"user_id": user_id, "revoked_keys": [key["id"] for key in revoked]})
    for key in revoked:
        await runtime().bus.publish("key", key["key_hash"])
    return (await _views([row]))[0]


async def delete_teams(references: list[str], principal: Principal) -> tuple[list[str], list[str]]:
    """All or nothing: an unknown team (or another account's, or one outside the caller's reach) fails
    the whole call with 404. A team's keys and memberships go with it."""
    if not references:
        raise InvalidRequest("'team_ids' is empty", param="team_ids")
    reach = Reach(principal)
    rows = {row["id"]: row for row in [await _row(reference, reach) for reference in references]}
    ids = list(rows)
    async with DB.transaction():
        revoked = await keys.delete().where(VirtualKey.team_id.is_in(ids)).returning(VirtualKey.id,
                                                                                      VirtualKey.key_hash,
                                                                                      VirtualKey.team_id)
        links = await memberships.delete().where(TeamMembership.team_id.is_in(ids)).returning(
            TeamMembership.team_id, TeamMembership.user_id)
        for team in await teams.delete().where(TeamRow.id.is_in(ids)).returning(TeamRow.id):
            # What went with the team: its keys (by id) and memberships.
            await record("team.deleted", target_type="team", target_id=team["id"], before=rows[team["id"]],
                         detail={"revoked_keys": [key["id"] for key in revoked if key["team_id"] == team["id"]],
                                 "members": [link["user_id"] for link in links if link["team_id"] == team["id"]]})
    for key in revoked:
        await runtime().bus.publish("key", key["key_hash"])
    return [str(ident) for ident in ids], [str(key["id"]) for key in revoked]
