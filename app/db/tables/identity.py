"""The hierarchy inside an account: organizations, teams, users and team memberships."""

from decimal import Decimal

from piccolo.columns import JSONB, UUID, Array, Boolean, Integer, Numeric, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.db.tables.accounts import MONEY


class Organization(Table, tablename="organizations"):
    id = UUID(primary_key=True)
    account_id = UUID(index=True)
    organization_alias = Varchar(length=200)
    models = Array(base_column=Varchar(length=200), default=[])
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    budget_duration = Varchar(length=16, null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None, help_text="End of the current budget period")
    rpm_limit = Integer(null=True, default=None)
    tpm_limit = Integer(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    spend = Numeric(digits=MONEY, default=Decimal(0))
    metadata = JSONB(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Team(Table, tablename="teams"):
    id = UUID(primary_key=True)
    account_id = UUID(index=True)
    organization_id = UUID(null=True, default=None, index=True)
    team_alias = Varchar(length=200)
    models = Array(base_column=Varchar(length=200), default=[])
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    budget_duration = Varchar(length=16, null=True, default=None)
    rpm_limit = Integer(null=True, default=None)
    tpm_limit = Integer(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None, help_text="End of the current budget period")
    max_parallel_requests = Integer(null=True, default=None)
    spend = Numeric(digits=MONEY, default=Decimal(0))
    blocked = Boolean(default=False)
    metadata = JSONB(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class User(Table, tablename="users"):
    id = UUID(primary_key=True)
    account_id = UUID(index=True)
    organization_id = UUID(null=True, default=None)
    user_email = Varchar(length=320, null=True, default=None, index=True)
    user_role = Varchar(length=32, default="internal_user")
    password_hash = Varchar(length=255, null=True, default=None, secret=True,
                            help_text="scrypt hash for console password login; NULL: SSO or invitation only")
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    budget_duration = Varchar(length=16, null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None, help_text="End of the current budget period")
    rpm_limit = Integer(null=True, default=None)
    tpm_limit = Integer(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    spend = Numeric(digits=MONEY, default=Decimal(0))
    metadata = JSONB(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class TeamMembership(Table, tablename="team_memberships"):
    account_id = UUID(index=True)
    team_id = UUID(index=True)
    user_id = UUID(index=True)
    role = Varchar(length=16, default="user")
    created_at = Timestamptz(default=TimestamptzNow())
