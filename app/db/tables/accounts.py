"""Accounts (tenants) and their administrators."""

from decimal import Decimal

from piccolo.columns import JSONB, UUID, Numeric, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

MONEY = (24, 12)


class Account(Table, tablename="accounts"):
    id = UUID(primary_key=True)
    name = Varchar(length=200, help_text="Display name of the tenant")
    domain = Varchar(length=253, null=True, default=None, unique=True, help_text="Email domain that routes logins here")
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    spend = Numeric(digits=MONEY, default=Decimal(0))
    metadata = JSONB(default={})
    sso_config = JSONB(default={}, help_text="Per-account identity provider settings (secrets encrypted)")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None, help_text="Soft delete: set means every key is refused")


class AccountAdmin(Table, tablename="account_admins"):
    account_id = UUID(index=True)
    email = Varchar(length=320)
    created_at = Timestamptz(default=TimestamptzNow())
