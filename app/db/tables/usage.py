"""The usage ledger: one append-only row per request, unique on the request id."""

from decimal import Decimal

from piccolo.columns import UUID, BigSerial, Boolean, Integer, Numeric, Timestamptz, Varchar
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
    cost = Numeric(digits=MONEY, default=Decimal(0))
    latency_ms = Integer(default=0)
    stream = Boolean(default=False)
    status = Varchar(length=32, help_text="success | error | client_disconnected")
    error_type = Varchar(length=64, null=True, default=None)
    started_at = Timestamptz(index=True)
    ended_at = Timestamptz()
    recorded_at = Timestamptz(default=TimestamptzNow())
