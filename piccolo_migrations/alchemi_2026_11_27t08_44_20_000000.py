"""Audit trail, part 2 (the table is 08:44:19): the paging and outbox indexes, tenant isolation, and the
two policies beyond it (see app/audit/scope.py)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T08:44:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_events: paging and outbox indexes, policies"

APP_ROLE = "alchemi_app"
_PLATFORM = "current_setting('app.audit_scope', true) = 'platform'"
STATEMENTS = [
    "CREATE INDEX audit_events_account_page ON audit_events (account_id, occurred_at DESC, id DESC)",
    "CREATE INDEX audit_events_unshipped ON audit_events (occurred_at) WHERE shipped_at IS NULL",
    "SELECT public.alchemi_isolate_tenant_tables()",
    "CREATE POLICY audit_unowned_insert ON audit_events FOR INSERT WITH CHECK (account_id IS NULL)",
    f"CREATE POLICY audit_platform ON audit_events USING ({_PLATFORM}) WITH CHECK ({_PLATFORM})",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_events TO {APP_ROLE}",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="alchemi", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
