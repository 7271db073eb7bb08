"""Issuing, changing and revoking virtual keys. Every change is audited in its own transaction and, once
committed, published so that all API processes drop their cached principal for that key within the
pub/sub round trip. Audit events carry the key's row with its hash redacted, never the key."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from app.admin import fields, grants
from app.admin.keys.schemas import GeneratedKey, KeyGenerate, KeyInfo, KeyUpdate
from app.admin.reach import Reach
from app.audit.record import audited_change, record
from app.auth.principal import Principal
from app.db.piccolo_conf import DB
from app.db.tables import Team, User, VirtualKey
from app.lib.crypto import display_prefix, new_virtual_key
from app.lib.errors import InvalidRequest, NotFound
from app.runtime import runtime
from app.tenancy.scoped import scoped

keys = scoped(VirtualKey)


def _info(row: dict) -> KeyInfo:
    return KeyInfo(
        token=row["id"], key_name=row["key_prefix"], key_alias=row["key_alias"], account_id=row["account_id"],
        user_id=row["user_id"], team_id=row["team_id"], organization_id=row["organization_id"],
        models=list(row["models"] or []), **fields.limits_of(row), spend=float(row["spend"]), expires=row["expires"],
        blocked=row["blocked"], metadata=row["metadata"] if isinstance(row["metadata"], dict) else {},
        created_at=row["created_at"],
    )


class _Owner(NamedTuple):
    user: UUID | None
    team: UUID | None
    organization: UUID | None
    role: str | None  # the user's role, which the key carries
    team_models: list[str]


async def _owner(user_id: str | None, team_id: str | None, reach: Reach) -> _Owner:
    """A key's user, team and organization, each checked to be within the caller's reach (else 404).

    An internal user's keys are its own, a team admin's keys its team's, and a key an org admin
    makes outside any team is its organization's: that is what they default to.
    """
    user = fields.identifier(user_id, "user_id")
    team = fields.identifier(team_id, "team_id")
    if user is None and reach.level == "user":
        user = reach.me
    if team is None and reach.level == "team":
        team = reach.anchor
    role = None
    if user is not None:
        row = await scoped(User).select(User.user_role).where((User.id == user) & reach.users()).first()
        if row is None:
            raise NotFound(f"No user with id '{user_id}'", param="user_id", code="user_not_found")
        role = row["user_role"]
    organization, team_models = None, []
    if team is not None:
        row = await scoped(Team).select(Team.organization_id, Team.models).where(
            (Team.id == team) & reach.teams()).first()
        if row is None:
            raise NotFound(f"No team with id '{team_id}'", param="team_id", code="team_not_found")
        organization, team_models = row["organization_id"], list(row["models"] or [])
    if organization is None and reach.level == "organization":
        organization = reach.anchor
    return _Owner(user, team, organization, role, team_models)


async def _role_of(user_id: UUID | None) -> str | None:
    if user_id is None:
        return None
    row = await scoped(User).select(User.user_role).where(User.id == user_id).first()
    return row["user_role"] if row else None


async def _team_models(team_id: UUID | None) -> list[str]:
    row = await scoped(Team).select(Team.models).where(Team.id == team_id).first() if team_id else None
    return list(row["models"] or []) if row else []


async def generate_key(data: KeyGenerate, principal: Principal) -> GeneratedKey:
    owner = await _owner(data.user_id, data.team_id, Reach(principal))
    grants.act_on(principal, owner.role, "key")
    limits = fields.limits(data)
    grants.grant_budget(principal, limits.get("max_budget"))
    models = grants.grant_models(principal, data.models, owner.team_models)
    key = new_virtual_key()
    key_hash = runtime().hasher.hash(key)
    async with audited_change("key.created", "key") as change:
        row = await keys.insert(
            key_hash=key_hash, key_prefix=display_prefix(key), key_alias=data.key_alias, user_id=owner.user,
            team_id=owner.team, organization_id=owner.organization, models=models, **limits,
            expires=fields.expiry(data.duration), metadata=data.metadata,
        )
        change.target_id, change.after = row["id"], row
    # A process may hold a cached "unknown key" answer for this hash; make it ask again.
    await runtime().bus.publish("key", key_hash)
    info = _info(row)
    return GeneratedKey(
        key=key, token=info.token, key_name=info.key_name, key_alias=info.key_alias, expires=info.expires,
        models=info.models, max_budget=info.max_budget, budget_duration=info.budget_duration,
        budget_reset_at=info.budget_reset_at, rpm_limit=info.rpm_limit, tpm_limit=info.tpm_limit, max_parallel_requests=info.max_parallel_requests,
        user_id=info.user_id, team_id=info.team_id, metadata=info.metadata,
    )


def _lookup(reference: str):
    """A key is named by its value (`sk-...`) or by its id (`token`)."""
    if reference.startswith("sk-"):
        return VirtualKey.key_hash == runtime().hasher.hash(reference)
    ident = fields.identifier(reference, "key")
    return VirtualKey.id == ident


async def _row(reference: str, reach: Reach) -> dict:
    row = await keys.get(_lookup(reference) & reach.keys())
    if row is None:
        raise NotFound("No such key", param="key", code="key_not_found")
    return row


async def key_info(reference: str | None, principal: Principal) -> KeyInfo:
    """A key of the caller's reach; without `key`, the caller's own key (as LiteLLM answers)."""
    if reference is None:
        if principal.key_id is None:
            raise InvalidRequest("'key' is required", param="key")
        reference = str(principal.key_id)
    return _info(await _row(reference, Reach(principal)))


async def update_key(data: KeyUpdate, principal: Principal) -> KeyInfo:
    reach = Reach(principal)
    row = await _row(data.key, reach)
    grants.keep_own_bounds(principal, "key", row["id"], grants.named(data))
    grants.act_on(principal, await _role_of(row["user_id"]), "key")
    values: dict[Any, Any] = {VirtualKey.updated_at: datetime.now(timezone.utc)}
    team_id = row["team_id"]
    if data.user_id is not msgspec.UNSET or data.team_id is not msgspec.UNSET:
        stored_user, stored_team = (str(row[name]) if row[name] else None for name in ("user_id", "team_id"))
        user_ref = data.user_id if data.user_id is not msgspec.UNSET else stored_user
        team_ref = data.team_id if data.team_id is not msgspec.UNSET else stored_team
        owner = await _owner(user_ref, team_ref, reach)
        grants.act_on(principal, owner.role, "key")
        team_id = owner.team
        values.update({VirtualKey.user_id: owner.user, VirtualKey.team_id: owner.team,
                       VirtualKey.organization_id: owner.organization})
    simple = {
        VirtualKey.key_alias: data.key_alias,
        VirtualKey.metadata: data.metadata,
        VirtualKey.blocked: data.blocked,
    }
    values.update({column: value for column, value in simple.items() if value is not msgspec.UNSET})
    if data.models is not msgspec.UNSET:
        values[VirtualKey.models] = grants.grant_models(principal, data.models, await _team_models(team_id))
    limits = fields.limits(data, row)
    grants.grant_budget(principal, limits.get("max_budget"))
    values.update({getattr(VirtualKey, name): value for name, value in limits.items()})
    if data.duration is not msgspec.UNSET:
        values[VirtualKey.expires] = fields.expiry(data.duration)
    async with audited_change(_update_action(row, values), "key", row["id"], before=row) as change:
        await keys.update(values).where(VirtualKey.id == row["id"])
        change.after = await keys.get(VirtualKey.id == row["id"])
    await runtime().bus.publish("key", row["key_hash"])
    return await key_info(str(row["id"]), principal)


def _update_action(row: dict, values: dict) -> str:
    """Blocking and unblocking are the changes an auditor looks for first: they name the event."""
    blocked = values.get(VirtualKey.blocked, row["blocked"])
    if blocked != row["blocked"]:
        return "key.blocked" if blocked else "key.unblocked"
    return "key.updated"


async def delete_keys(references: list[str], principal: Principal) -> list[str]:
    """All or nothing: an unknown key (or another account's, or one outside the caller's reach) fails
    the whole call with 404, a key of a user above the caller with 403."""
    reach = Reach(principal)
    rows = [await _row(reference, reach) for reference in references]
    for row in rows:
        grants.act_on(principal, await _role_of(row["user_id"]), "key")
    ids = [row["id"] for row in rows]
    if ids:
        async with DB.transaction():
            gone = await keys.delete().where(VirtualKey.id.is_in(ids)).returning(VirtualKey.id)
            by_id = {row["id"]: row for row in rows}  # a key named twice is audited once
            for ident in dict.fromkeys(row["id"] for row in gone):
                await record("key.deleted", target_type="key", target_id=ident, before=by_id[ident])
    for row in rows:
        await runtime().bus.publish("key", row["key_hash"])
    return [str(ident) for ident in ids]


async def list_keys(page: int, size: int, user_id: str | None, team_id: str | None,
                    principal: Principal) -> tuple[list[KeyInfo], int]:
    reach = Reach(principal).keys()
    query = keys.select().where(reach).order_by(VirtualKey.created_at)
    count = keys.count().where(reach)
    for column, value, name in ((VirtualKey.user_id, user_id, "user_id"), (VirtualKey.team_id, team_id, "team_id")):
        if value is not None:
            ident = fields.identifier(value, name)
            query = query.where(column == ident)
            count = count.where(column == ident)
    total = await count
    rows = await query.limit(size).offset((page - 1) * size)
    return [_info(row) for row in rows], total


def total_pages(total: int, size: int) -> int:
    return max(math.ceil(total / size), 1)
