"""Virtual keys: stored only as a peppered hash plus a short display prefix."""

from decimal import Decimal

from piccolo.columns import JSONB, UUID, Array, Boolean, Integer, Numeric, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.db.tables.accounts import MONEY


class VirtualKey(Table, tablename="virtual_keys"):
    id = UUID(primary_key=True, help_text="The key's public id (`token` in the API)")
    account_id = UUID(index=True)
    key_hash = Varchar(length=64, unique=True, help_text="HMAC-SHA256 of the key with the server pepper")
    key_prefix = Varchar(length=24, help_text="Display form, e.g. sk-ab12…9xyz")
    key_alias = Varchar(length=200, null=True, default=None)
    user_id = UUID(null=True, default=None, index=True)
    team_id = UUID(null=True, default=None, index=True)
    organization_id = UUID(null=True, default=None)
    models = Array(base_column=Varchar(length=200), default=[])
    max_budget = Numeric(digits=MONEY, null=True, default=None)
    budget_duration = Varchar(length=16, null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None, help_text="End of the current budget period")
    rpm_limit = Integer(null=True, default=None)
    tpm_limit = Integer(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    spend = Numeric(digits=MONEY, default=Decimal(0))
    expires = Timestamptz(null=True, default=None)
    blocked = Boolean(default=False)
    metadata = JSONB(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
