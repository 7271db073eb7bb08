"""Issuing, changing and revoking virtual keys. Every change is published so that all API
processes drop their cached principal for that key within the pub/sub round trip."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import msgspec

from app.admin import fields
from app.admin.keys.schemas import GeneratedKey, KeyGenerate, KeyInfo, KeyUpdate
from app.db.tables import Team, User, VirtualKey
from app.lib.crypto import display_prefix, new_virtual_key
from app.lib.errors import NotFound
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


async def _owner_ids(user_id: str | None, team_id: str | None) -> tuple[UUID | None, UUID | None, UUID | None]:
    """user, team and organization ids, each checked to live in the caller's account (else 404)."""
    user = fields.identifier(user_id, "user_id")
    team = fields.identifier(team_id, "team_id")
    organization = None
    if user is not None and not await scoped(User).exists().where(User.id == user):
        raise NotFound(f"No user with id '{user_id}'", param="user_id", code="user_not_found")
    if team is not None:
        row = await scoped(Team).select(Team.organization_id).where(Team.id == team).first()
        if row is None:
            raise NotFound(f"No team with id '{team_id}'", param="team_id", code="team_not_found")
        organization = row["organization_id"]
    return user, team, organization


async def generate_key(data: KeyGenerate) -> GeneratedKey:
    user, team, organization = await _owner_ids(data.user_id, data.team_id)
    key = new_virtual_key()
    key_hash = runtime().hasher.hash(key)
    row = await keys.insert(
        key_hash=key_hash, key_prefix=display_prefix(key), key_alias=data.key_alias, user_id=user, team_id=team,
        organization_id=organization, models=data.models, **fields.limits(data),
        expires=fields.expiry(data.duration), metadata=data.metadata,
    )
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


async def _row(reference: str) -> dict:
    row = await keys.get(_lookup(reference))
    if row is None:
        raise NotFound("No such key", param="key", code="key_not_found")
    return row


async def key_info(reference: str) -> KeyInfo:
    return _info(await _row(reference))


async def update_key(data: KeyUpdate) -> KeyInfo:
    row = await _row(data.key)
    values: dict[Any, Any] = {VirtualKey.updated_at: datetime.now(timezone.utc)}
    if data.user_id is not msgspec.UNSET or data.team_id is not msgspec.UNSET:
        user_id = data.user_id if data.user_id is not msgspec.UNSET else (str(row["user_id"]) if row["user_id"] else None)
        team_id = data.team_id if data.team_id is not msgspec.UNSET else (str(row["team_id"]) if row["team_id"] else None)
        user, team, organization = await _owner_ids(user_id, team_id)
        values.update({VirtualKey.user_id: user, VirtualKey.team_id: team, VirtualKey.organization_id: organization})
    simple = {
        VirtualKey.key_alias: data.key_alias,
        VirtualKey.models: data.models,
        VirtualKey.metadata: data.metadata,
        VirtualKey.blocked: data.blocked,
    }
    values.update({column: value for column, value in simple.items() if value is not msgspec.UNSET})
    values.update({getattr(VirtualKey, name): value for name, value in fields.limits(data, row).items()})
    if data.duration is not msgspec.UNSET:
        values[VirtualKey.expires] = fields.expiry(data.duration)
    await keys.update(values).where(VirtualKey.id == row["id"])
    await runtime().bus.publish("key", row["key_hash"])
    return await key_info(str(row["id"]))


async def delete_keys(references: list[str]) -> list[str]:
    """All or nothing: an unknown key (or another account's) fails the whole call with 404."""
    rows = [await _row(reference) for reference in references]
    ids = [row["id"] for row in rows]
    if ids:
        await keys.delete().where(VirtualKey.id.is_in(ids))
    for row in rows:
        await runtime().bus.publish("key", row["key_hash"])
    return [str(ident) for ident in ids]


async def list_keys(page: int, size: int, user_id: str | None, team_id: str | None) -> tuple[list[KeyInfo], int]:
    query = keys.select().order_by(VirtualKey.created_at)
    count = keys.count()
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
