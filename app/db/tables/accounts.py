"""Accounts (tenants) and their administrators."""

from decimal import Decimal

from piccolo.columns import JSONB, UUID, Integer, Numeric, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

MONEY = (24, 12)


class Account(Table, tablename="accounts"):
    id = UUID(primary_key=True)
    name = Varchar(length=200, help_text="Display name of the tenant")
    domain = Varchar(length=253, null=True, default=None, unique=True, help_text="Email domain that routes logins here")
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    budget_duration = Varchar(length=16, null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None, help_text="End of the current budget period")
    rpm_limit = Integer(null=True, default=None)
    tpm_limit = Integer(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    price_markup_percent = Numeric(digits=(8, 4), default=Decimal(0),
                                   help_text="Price book: what the tenant is charged over provider cost, in %")
    spend = Numeric(digits=MONEY, default=Decimal(0))
    metadata = JSONB(default={})
    sso_config = JSONB(default={}, help_text="Per-account identity provider settings (secrets encrypted)")
    zitadel_org_id = Varchar(length=64, null=True, default=None, unique=True,
                             help_text="The one Zitadel organization whose users belong here")
    router_settings = JSONB(default={}, help_text="Routing: strategy per model group, retries, fallbacks, cooldowns")
    smtp_config = JSONB(default={}, help_text="The account's own SMTP server for its email (password sealed)")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None, help_text="Soft delete: set means every key is refused")


class AccountAdmin(Table, tablename="account_admins"):
    account_id = UUID(index=True)
    email = Varchar(length=320)
    created_at = Timestamptz(default=TimestamptzNow())
