"""The database's half of tenancy: every transaction carries the current account in `app.account_id`.

Tenant-owned tables have row-level security (piccolo_migrations/alchemi_2026_11_27t08_00_00_000000.py):
a row is visible and writable only while `app.account_id` names its account, and the application's
role cannot bypass it. `TenantEngine` is piccolo's engine for the whole app: each query runs in a
transaction that first does `set_config('app.account_id', <current account>, true)`, and a query inside
an open `DB.transaction()` re-binds the transaction when the current account changed (see
`tenancy.context.acting_in`). Code on raw asyncpg connections (the workers) calls `bind_account`.
Without a current account nothing is bound: tenant tables then show no rows and refuse inserts.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.querystring import QueryString

from app.tenancy.context import current_account

BIND = "SELECT set_config('app.account_id', $1, true)"


async def bind_account(conn: Any, account_id: UUID | str | None) -> None:
    """Set the account of `conn`'s current transaction (None: no account, so no tenant rows)."""
    await conn.execute(BIND, str(account_id) if account_id is not None else "")


class TenantTransaction(PostgresTransaction):
    # A transaction starts unbound: set_config(..., true) ends with the transaction that made it, and
    # the pool's reset of a released connection (RESET ALL) clears anything else.
    bound: UUID | None = None

    async def begin(self) -> None:
        await super().begin()
        await self.bind(current_account())

    async def bind(self, account_id: UUID | None) -> None:
        if account_id != self.bound:
            await bind_account(self.connection, account_id)
            self.bound = account_id


class TenantEngine(PostgresEngine):
    def transaction(self, allow_nested: bool = True) -> TenantTransaction:
        return TenantTransaction(engine=self, allow_nested=allow_nested)

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True):
        transaction = self.current_transaction.get()
        if isinstance(transaction, TenantTransaction):
            await transaction.bind(current_account())
        elif current_account() is not None:
            async with self.transaction():
                return await super().run_querystring(querystring, in_pool)
        return await super().run_querystring(querystring, in_pool)
