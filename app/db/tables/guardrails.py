"""Guardrails: each account's guard settings and custom patterns, and the log of their hits (which guard,
which detector or pattern, what it did — never the text it matched)."""

from piccolo.columns import JSONB, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table


class GuardrailConfig(Table, tablename="guardrails_config"):
    """One row per account × guard type (unique); a guard type without a row is off. The account-wide
    switches (`scan_responses`) are in `guardrails_settings`."""

    id = UUID(primary_key=True, default=UUID4())
    account_id = UUID(index=True)
    guard_type = Varchar(length=32, help_text="secret_detection | pii | custom_patterns")
    enabled = Boolean(default=False)
    action = Varchar(length=8, default="mask", help_text="mask | block | log: what a hit does")
    detectors = JSONB(default={}, help_text="detector name → mask | block | log | off, overriding `action`")
    updated_at = Timestamptz(default=TimestamptzNow())


class GuardrailSettings(Table, tablename="guardrails_settings"):
    """The account-wide switches of its guardrails (one row per account, unique; none: the defaults)."""

    id = UUID(primary_key=True, default=UUID4())
    account_id = UUID(index=True)
    scan_responses = Boolean(default=False, help_text="Also scan the models' answers (whole and streamed)")
    updated_at = Timestamptz(default=TimestamptzNow())


class GuardrailPattern(Table, tablename="guardrails_custom_patterns"):
    """An account's own regular expression (checked by app/guardrails/custom.py before it is stored);
    names are unique per account: hits are logged under the name."""

    id = UUID(primary_key=True, default=UUID4())
    account_id = UUID(index=True)
    name = Varchar(length=100)
    pattern = Text()
    action = Varchar(length=8, default="mask", help_text="mask | block | log")
    enabled = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class GuardrailHit(Table, tablename="guardrails_audit_log"):
    """What a guard found in one request (or answer): one row per request × guard × detector × action ×
    direction, with how many matches. The matched text is never stored anywhere."""

    id = UUID(primary_key=True, default=UUID4(), help_text="Made when the hit happened: writing it twice is a no-op")
    account_id = UUID(index=True)
    occurred_at = Timestamptz(default=TimestamptzNow())
    request_id = Varchar(length=64, null=True, default=None)
    key_id = UUID(null=True, default=None)
    user_id = UUID(null=True, default=None)
    guard_type = Varchar(length=32)
    name = Varchar(length=100, help_text="The detector's or custom pattern's name")
    action = Varchar(length=8, help_text="mask | block | log: what was done")
    direction = Varchar(length=8, help_text="input (the prompt) | output (the answer)")
    call_type = Varchar(length=32)
    model = Varchar(length=200, help_text="The model name the client asked for")
    # Not `count`: piccolo tables have a count() query method (the column keeps the name `count`).
    matches = Integer(default=1, db_column_name="count", help_text="Matches of this detector in the request")
