"""Writing audit events. `record()` inserts one inside the caller's open transaction (piccolo), so the
change and its event commit or roll back together; `audited_change()` opens that transaction around a
change; `record_on(conn, ...)` is the same insert for code on a raw asyncpg connection (the workers).

The actor comes from app/audit/actor.py, the request id and IP from app/lib/request_context.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import msgspec

from app.audit.actor import Actor, current_actor
from app.audit.diff import changes, plain
from app.lib import request_context
from app.tenancy.context import acting_in, current_account

_UNSET: Any = object()
_encode = msgspec.json.encode


def _row(action: str, target_type: str, target_id: Any, before: dict | None, after: dict | None,
         detail: dict | None, outcome: str, account_id: UUID | None, actor: Actor | None) -> dict[str, Any]:
    who = actor or current_actor()
    return {
        "id": uuid4(), "account_id": account_id, "occurred_at": datetime.now(timezone.utc),
        "actor_type": who.type, "actor_id": who.id, "actor_role": who.role, "actor_ip": request_context.client_ip(),
        "action": action, "target_type": target_type, "target_id": None if target_id is None else str(target_id),
        "changes": changes(before, after), "detail": plain(detail or {}), "outcome": outcome,
        "request_id": request_context.request_id(),
    }


async def record(action: str, *, target_type: str, target_id: Any = None, before: dict | None = None,
                 after: dict | None = None, detail: dict | None = None, outcome: str = "success",
                 account_id: UUID | None = _UNSET, actor: Actor | None = None) -> UUID:
    """Write one event in the current transaction (or its own, outside one). `account_id` defaults to
    the current account; None records an event no account owns."""
    from app.db.tables.audit import AuditEvent

    owner = current_account() if account_id is _UNSET else account_id
    row = _row(action, target_type, target_id, before, after, detail, outcome, owner, actor)
    if owner is None:
        from app.audit.scope import unowned_insert

        await unowned_insert(row)
    else:
        with acting_in(owner):
            await AuditEvent.insert(AuditEvent(**row))
    return row["id"]


# The columns an event is written with (the outbox's own columns keep their defaults), in one order for
# both inserts: record_on's below and the unowned insert of app/audit/scope.py.
COLUMNS = ("id", "account_id", "occurred_at", "actor_type", "actor_id", "actor_role", "actor_ip", "action",
           "target_type", "target_id", "changes", "detail", "outcome", "request_id")
JSON_COLUMNS = frozenset({"changes", "detail"})


def insert_values(row: dict[str, Any]) -> list[Any]:
    """`row`'s values in COLUMNS order, the JSON ones as text (cast to jsonb by the statement)."""
    return [_encode(row[name]).decode() if name in JSON_COLUMNS else row[name] for name in COLUMNS]


_INSERT = (f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ("
           + ", ".join(f"${n}::jsonb" if name in JSON_COLUMNS else f"${n}" for n, name in enumerate(COLUMNS, 1)) + ")")


async def record_on(conn: Any, action: str, *, account_id: UUID | None, target_type: str, target_id: Any = None,
                    before: dict | None = None, after: dict | None = None, detail: dict | None = None,
                    outcome: str = "success", actor: Actor | None = None) -> UUID:
    """The same event on a raw asyncpg connection whose transaction is bound to `account_id` (workers)."""
    row = _row(action, target_type, target_id, before, after, detail, outcome, account_id, actor)
    await conn.execute(_INSERT, *insert_values(row))
    return row["id"]


@dataclass
class Change:
    """What `audited_change` records when its block ends: fill in `after` (and `target_id` if the change
    created it)."""

    action: str
    target_type: str
    target_id: Any = None
    before: dict | None = None
    after: dict | None = None
    detail: dict = field(default_factory=dict)
    account_id: UUID | None = _UNSET


@asynccontextmanager
async def audited_change(action: str, target_type: str, target_id: Any = None, *, before: dict | None = None,
                         account_id: UUID | None = _UNSET) -> AsyncIterator[Change]:
    """One transaction holding a change and its event: an exception in the block writes neither.

        async with audited_change("key.updated", "key", row["id"], before=row) as change:
            await keys.update(values).where(...)
            change.after = await keys.get(...)
    """
    from app.db.piccolo_conf import DB

    change = Change(action, target_type, target_id, before, account_id=account_id)
    async with DB.transaction():
        yield change
        await record(change.action, target_type=change.target_type, target_id=change.target_id,
                     before=change.before, after=change.after, detail=change.detail, account_id=change.account_id)
