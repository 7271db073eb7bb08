"""A provisioning run on the audit trail, written in the job's own transaction (raw asyncpg, bound to
the account): `user.provisioned` (created, or an existing user of that email adopted), `user.updated`
(email or name changed), `user.deactivated` (keys blocked), `user.removed`. The actor is the system;
the detail names the Zitadel event that caused it. A run that changes nothing records nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.audit.actor import SYSTEM
from app.audit.record import record_on
from app.provisioning import queries


async def user_snapshot(conn, account_id: UUID, user_id: UUID | None, email: str | None) -> dict[str, Any] | None:
    """What provisioning sets of a user: the linked one, else (with `email`) the one a fold would adopt."""
    row = await conn.fetchrow(queries.USER_BY_ID, user_id, account_id) if user_id else None
    if row is None and email:
        row = await conn.fetchrow(queries.USER_BY_EMAIL, account_id, email)
    if row is None:
        return None
    metadata = msgspec.json.decode(row["metadata"]) if isinstance(row["metadata"], str) else (row["metadata"] or {})
    return {"id": row["id"], "user_email": row["user_email"], "name": metadata.get("name")}


async def record_run(conn, account_id: UUID, event, *, linked: UUID | None, before: dict | None,
                     after: dict | None, newly_deactivated: bool, revoked_keys: list[UUID]) -> None:
    """`linked` is the user the Zitadel user was linked to before the run; `revoked_keys` the keys it
    deleted (removal) or blocked (deactivation)."""
    detail = {"zitadel_event_id": event["id"], "zitadel_sequence": event["sequence"],
              "zitadel_event_type": event["event_type"], "zitadel_user_id": event["aggregate_id"]}

    async def emit(action: str, target: UUID, old: dict | None, new: dict | None, **more: Any) -> None:
        await record_on(conn, action, account_id=account_id, target_type="user", target_id=target, before=old,
                        after=new, detail={**detail, **more}, actor=SYSTEM)

    if after is None:
        if before is not None:
            await emit("user.removed", before["id"], before, None, revoked_keys=revoked_keys)
        return
    if before is None or before["id"] != linked:
        await emit("user.provisioned", after["id"], before, after)
    elif before != after:
        await emit("user.updated", after["id"], before, after)
    if newly_deactivated or revoked_keys:
        await emit("user.deactivated", after["id"], None, None, blocked_keys=revoked_keys)
