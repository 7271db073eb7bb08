"""The one door to tenant-owned tables: every query built here is filtered on the current account.

    keys = scoped(VirtualKey)
    await keys.select().where(VirtualKey.id == key_id).first()   # ... AND account_id = <current>
    await keys.insert(key_alias="ci")                            # account_id filled in

Behind this filter the database enforces the same boundary: each of these queries runs in a transaction
bound to the current account (`set_config('app.account_id', …, true)`, done by the engine in
tenancy/database.py), and row-level security hides every other account's rows even from a query
that lost its filter.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from piccolo.columns import Column
from piccolo.columns.combination import Combinable
from piccolo.table import Table

from app.tenancy.context import require_account

T = TypeVar("T", bound=Table)


class Scoped(Generic[T]):
    def __init__(self, table: type[T]) -> None:
        if "account_id" not in {column._meta.name for column in table._meta.columns}:
            raise TypeError(f"{table.__name__} is not tenant-owned")
        self.table = table

    def _mine(self) -> Combinable:
        return self.table.account_id == require_account()  # type: ignore[attr-defined]

    def select(self, *columns: Column | str):
        return self.table.select(*columns).where(self._mine()).output(load_json=True)

    def count(self):
        return self.table.count().where(self._mine())

    def exists(self):
        return self.table.exists().where(self._mine())

    async def get(self, where: Combinable) -> dict[str, Any] | None:
        return await self.select().where(where).first()

    async def insert(self, **values: Any) -> dict[str, Any]:
        values["account_id"] = require_account()
        row = self.table(**values)
        rows = await self.table.insert(row).returning(*self.table._meta.columns)
        return load_json_columns(self.table, rows[0])

    def update(self, values: dict[Column | str, Any]):
        return self.table.update(values).where(self._mine())

    def delete(self):
        return self.table.delete().where(self._mine())


def load_json_columns(table: type[Table], row: dict[str, Any]) -> dict[str, Any]:
    """`RETURNING` hands JSON columns back as text; decode them like `select(...).output(load_json=True)` does."""
    for column in table._meta.json_columns:
        value = row.get(column._meta.name)
        if isinstance(value, str):
            row[column._meta.name] = msgspec.json.decode(value)
    return row


def scoped(table: type[T]) -> Scoped[T]:
    return Scoped(table)
