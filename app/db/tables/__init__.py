"""Tables by context. Every tenant-owned table has an indexed `account_id` and is reached through
`app.tenancy.scoped`, never queried by hand."""

from app.db.tables.accounts import Account, AccountAdmin
from app.db.tables.audit import AuditEvent
from app.db.tables.guardrails import GuardrailConfig, GuardrailHit, GuardrailPattern, GuardrailSettings
from app.db.tables.identity import Organization, Team, TeamMembership, User
from app.db.tables.invitations import Invitation
from app.db.tables.keys import VirtualKey
from app.db.tables.models import ModelDeployment
from app.db.tables.provisioning import ProvisioningEvent, ZitadelUser
from app.db.tables.usage import BudgetAlert, BudgetUsage, SpendDaily, UsageOutbox, UsageRecord

TENANT_TABLES = (
    AccountAdmin, Organization, Team, TeamMembership, User, VirtualKey, ModelDeployment, UsageRecord, SpendDaily,
    BudgetUsage, BudgetAlert, Invitation, ZitadelUser, AuditEvent, GuardrailConfig, GuardrailSettings,
    GuardrailPattern, GuardrailHit,
)

__all__ = [
    "TENANT_TABLES", "Account", "AccountAdmin", "AuditEvent", "BudgetAlert", "BudgetUsage", "GuardrailConfig",
    "GuardrailHit", "GuardrailPattern", "GuardrailSettings", "Invitation", "ModelDeployment", "Organization",
    "ProvisioningEvent", "SpendDaily", "Team", "TeamMembership", "UsageOutbox", "UsageRecord", "User", "VirtualKey",
    "ZitadelUser",
]
