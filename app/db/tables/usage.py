"""Money tables: the append-only usage ledger, roll-ups derived from it, budget periods, the outbox."""

from decimal import Decimal

from piccolo.columns import JSONB, UUID, BigInt, BigSerial, Boolean, Bytea, Date, Integer, Numeric, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.db.tables.accounts import MONEY


class UsageRecord(Table, tablename="usage_ledger"):
    id = BigSerial(primary_key=True)
    request_id = Varchar(length=64, unique=True)
    account_id = UUID(index=True)
    organization_id = UUID(null=True, default=None)
    team_id = UUID(null=True, default=None)
    user_id = UUID(null=True, default=None)
    key_id = UUID(null=True, default=None, index=True)
    call_type = Varchar(length=32)
    model = Varchar(length=200, help_text="The model name the client asked for")
    model_group = Varchar(length=200)
    deployment_id = UUID(null=True, default=None)
    provider = Varchar(length=64)
    upstream_model = Varchar(length=300)
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    total_tokens = Integer(default=0)
    cached_tokens = Integer(default=0)
    cache_write_tokens = Integer(default=0)
    reasoning_tokens = Integer(default=0)
    usage_estimated = Boolean(default=False, help_text="Tokens counted by the gateway, not reported by the upstream")
    provider_cost = Numeric(digits=MONEY, default=Decimal(0), help_text="What the upstream bills us")
    cost = Numeric(digits=MONEY, default=Decimal(0), help_text="What the tenant is charged (price book applied)")
    budget_periods = JSONB(default={}, help_text="level → end (epoch s) of the budget period this request was charged to")
    latency_ms = Integer(default=0)
    stream = Boolean(default=False)
    status = Varchar(length=32, help_text="success | error | client_disconnected")
    error_type = Varchar(length=64, null=True, default=None)
    started_at = Timestamptz(index=True)
    ended_at = Timestamptz()
    recorded_at = Timestamptz(default=TimestamptzNow())


class SpendDaily(Table, tablename="spend_daily"):
    """Roll-up of the ledger per day × account × org × team × user × key × model group (rebuildable)."""

    id = BigSerial(primary_key=True)
    day = Date()
    account_id = UUID(index=True)
    organization_id = UUID(null=True, default=None)
    team_id = UUID(null=True, default=None)
    user_id = UUID(null=True, default=None)
    key_id = UUID(null=True, default=None)
    model_group = Varchar(length=200)
    requests = BigInt(default=0)
    prompt_tokens = BigInt(default=0)
    completion_tokens = BigInt(default=0)
    cost = Numeric(digits=MONEY, default=Decimal(0))


class BudgetUsage(Table, tablename="budget_usage"):
    """Spend of one budget level in one period: the durable side of the Redis counters."""

    id = BigSerial(primary_key=True)
    account_id = UUID(index=True)
    level = Varchar(length=16, help_text="key | user | team | organization | account")
    entity_id = UUID()
    period_end = Timestamptz(help_text="The period's identity: when it ends (1970-01-01 for lifetime budgets)")
    spend = Numeric(digits=MONEY, default=Decimal(0))


class BudgetAlert(Table, tablename="budget_alerts"):
    """A soft-budget threshold crossed in a period; unique, so each is queued once."""

    id = BigSerial(primary_key=True)
    account_id = UUID(index=True)
    level = Varchar(length=16)
    entity_id = UUID()
    period_end = Timestamptz()
    threshold = Integer(help_text="50, 80 or 100 (% of max_budget)")
    spend = Numeric(digits=MONEY)
    max_budget = Numeric(digits=MONEY)
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class UsageOutbox(Table, tablename="usage_outbox"):
    """Batches of usage events written by the API before they are queued: a Redis that loses its
    queue loses nothing, the sweeper queues unprocessed batches again."""

    batch_id = UUID(primary_key=True)
    account_ids = JSONB(default=[], help_text="Accounts with events in the batch (for operators)")
    events = Bytea()
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    processed_at = Timestamptz(null=True, default=None)
