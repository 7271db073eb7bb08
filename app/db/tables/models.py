"""Model deployments: an account's model names mapped onto upstream models and credentials."""

from piccolo.columns import JSONB, UUID, Integer, Numeric, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

PRICE = (24, 16)


class ModelDeployment(Table, tablename="model_deployments"):
    id = UUID(primary_key=True)
    account_id = UUID(index=True)
    model_name = Varchar(length=200, index=True, help_text="The name clients ask for")
    provider = Varchar(length=64)
    upstream_model = Varchar(length=300)
    api_base = Varchar(length=2000, null=True, default=None)
    api_version = Varchar(length=64, null=True, default=None)
    api_key_encrypted = Text(null=True, default=None, help_text="Fernet token; never returned")
    provider_params = JSONB(default={}, help_text="Non-secret provider settings (region, project, location...)")
    secret_params_encrypted = Text(null=True, default=None,
                                   help_text="Fernet token of a JSON object of further credentials; never returned")
    rpm = Integer(null=True, default=None)
    tpm = Integer(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    weight = Integer(default=1, help_text="Share of traffic under simple-shuffle routing")
    stream_timeout = Numeric(digits=(10, 3), null=True, default=None,
                             help_text="Seconds a stream may stay silent before the call is abandoned")
    timeout = Numeric(digits=(10, 3), null=True, default=None)
    input_cost_per_token = Numeric(digits=PRICE, null=True, default=None)
    output_cost_per_token = Numeric(digits=PRICE, null=True, default=None)
    model_info = JSONB(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
