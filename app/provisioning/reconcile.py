"""What a provisioning event does, run by the `provision_user` job.

A Zitadel user's state here is the fold of every event recorded for them, in sequence order,
so deliveries in any order, and any number of times, end in the same state: a late, older event
is folded in where it belongs and cannot overwrite what a newer one said. The link row
(`zitadel_users`) is locked while folding, which serialises concurrent jobs for one user.

    added / changed  → the user exists (created, or an existing user with that email adopted),
                       with the latest email and name (kept in the user's metadata as `name`)
    deactivated      → every key of the user is blocked (unblocking is an admin's decision)
    removed          → the user, their keys and team memberships are deleted; the link stays
                       as a tombstone so older events arriving later cannot bring them back
What changed is audited in the same transaction (app/provisioning/audit.py).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from app.provisioning import audit, queries
from app.provisioning.events import KINDS, Profile
from app.tenancy.database import bind_account


class UserState(msgspec.Struct):
    email: str | None = None
    name: str | None = None
    deactivated: bool = False
    removed: bool = False


class Outcome(msgspec.Struct):
    status: str  # applied | ignored | done (processed before)
    detail: str | None = None
    revoked_key_hashes: list[str] = []


def fold(history: list[tuple[str, Profile]]) -> UserState:
    state = UserState()
    for event_type, profile in history:
        kind = KINDS.get(event_type)
        if kind in ("added", "changed"):
            state.email = profile.email or state.email
            state.name = profile.name or state.name
        elif kind == "deactivated":
            state.deactivated = True
        elif kind == "removed":
            state.removed = True
    return state


def _profile(raw) -> Profile:
    return msgspec.convert(msgspec.json.decode(raw) if isinstance(raw, str) else raw, Profile)


async def _materialise(conn, account_id: UUID, user_id: UUID | None, state: UserState) -> tuple[UUID, str | None]:
    """The user with the state's email and name: the linked one, else one with that email, else a new one."""
    row = await conn.fetchrow(queries.USER_BY_ID, user_id, account_id) if user_id else None
    if row is None:
        row = await conn.fetchrow(queries.USER_BY_EMAIL, account_id, state.email)
    if row is None:
        metadata = {"name": state.name} if state.name else {}
        new_id = await conn.fetchval(queries.INSERT_USER, account_id, state.email,
                                     msgspec.json.encode(metadata).decode())
        return new_id, "user_created"
    detail = None
    if row["user_email"] != state.email:
        try:
            async with conn.transaction():  # a savepoint: the rest of the fold still applies
                await conn.execute(queries.UPDATE_USER_EMAIL, row["id"], account_id, state.email)
        except asyncpg.UniqueViolationError:
            detail = "email_taken"  # another user of the account has it; keep the old one
    metadata = msgspec.json.decode(row["metadata"]) if isinstance(row["metadata"], str) else (row["metadata"] or {})
    if state.name and metadata.get("name") != state.name:
        await conn.execute(queries.UPDATE_USER_NAME, row["id"], account_id, state.name)
    return row["id"], detail or "user_updated"


async def apply_event(pool, event_id: int) -> Outcome:
    async with pool.acquire() as conn, conn.transaction():
        event = await conn.fetchrow(queries.LOCK_EVENT, event_id)
        if event is None or event["status"] != "pending":
            return Outcome("done")
        account_id = await conn.fetchval(queries.ACCOUNT_OF_ORG, event["resource_owner"])
        if account_id is None:
            await conn.execute(queries.FINISH_EVENT, event_id, "ignored", "unmapped_org")
            return Outcome("ignored", "unmapped_org")
        await bind_account(conn, account_id)
        instance_id, zitadel_user_id = event["instance_id"], event["aggregate_id"]
        await conn.execute(queries.ENSURE_LINK, account_id, instance_id, zitadel_user_id)
        link = await conn.fetchrow(queries.LOCK_LINK, instance_id, zitadel_user_id)
        # Linked to another account (row-level security hides it, too): a Zitadel user does not change org.
        if link is None or link["account_id"] != account_id:
            await conn.execute(queries.FINISH_EVENT, event_id, "ignored", "account_mismatch")
            return Outcome("ignored", "account_mismatch")

        history = [(row["event_type"], _profile(row["profile"]))
                   for row in await conn.fetch(queries.HISTORY, instance_id, zitadel_user_id)]
        state = fold(history)
        user_id, keys, detail = link["user_id"], [], None
        before = await audit.user_snapshot(conn, account_id, user_id, None if state.removed else state.email)
        if state.removed:
            if user_id is not None:
                keys = await conn.fetch(queries.DELETE_KEYS, account_id, user_id)
                await conn.execute(queries.DELETE_MEMBERSHIPS, account_id, user_id)
                await conn.execute(queries.DELETE_USER, account_id, user_id)
            user_id, status, detail = None, "removed", "user_removed"
        elif state.email is None:
            status, detail = "unknown", "email_unknown"  # nothing to create a user from yet
        else:
            user_id, detail = await _materialise(conn, account_id, user_id, state)
            status = "active"
            if state.deactivated:
                keys = await conn.fetch(queries.BLOCK_KEYS, account_id, user_id)
                status, detail = "deactivated", "keys_blocked"
        if event["sequence"] < link["last_sequence"]:
            detail = "late"  # folded in where it belongs; newer events still decide
        await conn.execute(queries.UPDATE_LINK, link["id"], user_id, status, event["sequence"])
        await conn.execute(queries.FINISH_EVENT, event_id, "applied", detail)
        after = await audit.user_snapshot(conn, account_id, user_id, None) if user_id else None
        await audit.record_run(conn, account_id, event, linked=link["user_id"], before=before, after=after,
                               newly_deactivated=status == "deactivated" and link["state"] != "deactivated",
                               revoked_keys=[key["id"] for key in keys])
    return Outcome("applied", detail, [key["key_hash"] for key in keys])
