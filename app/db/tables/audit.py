"""The audit trail: one row per state change or security event, written in the same transaction as the
change (it is also the outbox the workers ship to OpenObserve from)."""

from piccolo.columns import JSONB, UUID, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_events"):
    """Tenant-owned; `account_id` is NULL only for events no account owns (a failed login for an unknown
    email, the super admin's own sign-in). Those, and reading across accounts, need the platform scope
    (`app.audit_scope = 'platform'`, see app/audit/scope.py)."""

    id = UUID(primary_key=True, default=UUID4(), help_text="Stable event id: OpenObserve deduplicates on it")
    account_id = UUID(null=True, default=None, index=True)
    occurred_at = Timestamptz(default=TimestamptzNow(), index=True)
    actor_type = Varchar(length=16, help_text="user | key | master_key | system | anonymous")
    actor_id = Varchar(length=320, null=True, default=None, help_text="User or key id (an email for failed logins)")
    actor_role = Varchar(length=32, null=True, default=None)
    actor_ip = Varchar(length=64, null=True, default=None)
    action = Varchar(length=64, index=True, help_text="<target>.<verb>, e.g. key.created, login.failed")
    target_type = Varchar(length=32)
    target_id = Varchar(length=320, null=True, default=None)
    changes = JSONB(default={}, help_text="{before: {...}, after: {...}} of the changed fields, secrets redacted")
    detail = JSONB(default={}, help_text="What else explains the event (never a secret)")
    outcome = Varchar(length=16, default="success", help_text="success | failure | denied")
    request_id = Varchar(length=64, null=True, default=None)
    shipped_at = Timestamptz(null=True, default=None, help_text="When OpenObserve accepted it (NULL: not yet)")
    ship_attempts = Integer(default=0)
    next_ship_at = Timestamptz(null=True, default=None, help_text="Back-off: not before this time")
