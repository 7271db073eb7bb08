"""The audit trail's one exception to tenant isolation, kept in this module.

Row-level security on `audit_events` shows a transaction its own account's events, like every tenant
table. Two more policies (migration 2026-11-27T08:44:20:000000) allow:
- inserting an event no account owns (`account_id IS NULL`): a failed login for an unknown email;
- everything, while the transaction has set `app.audit_scope = 'platform'`: the super admin's
  `/audit/logs` across accounts, and the workers' shipping and retention.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


PLATFORM = "SELECT set_config('app.audit_scope', 'platform', true)"
@asynccontextmanager
async def platform_scope() -> AsyncIterator[None]:
    """A piccolo transaction that sees every account's audit events (and those of none)."""
    from app.db.piccolo_conf import DB

    async with DB.transaction():
        await DB.run_ddl(PLATFORM)
        yield


async def enter_platform_scope(conn: Any) -> None:
    """The same, for the current transaction of a raw asyncpg connection (workers)."""
    await conn.execute(PLATFORM)


async def unowned_insert(row: dict[str, Any]) -> None:
    # Raw SQL: piccolo's insert asks for RETURNING, which a row no account owns may not be read back by.
    from app.audit.record import COLUMNS, JSON_COLUMNS, insert_values
    from app.db.tables.audit import AuditEvent

    placeholders = ", ".join("{}::jsonb" if name in JSON_COLUMNS else "{}" for name in COLUMNS)
    await AuditEvent.raw(f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                         *insert_values(row))
