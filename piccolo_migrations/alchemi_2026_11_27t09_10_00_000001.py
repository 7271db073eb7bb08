"""Guardrails, part 2 (the tables are 09:10:00:000000): one config row per account and guard type, one
settings row per account, pattern names unique per account (case-insensitive), the hit log's paging
index, and tenant isolation on the new tables right away."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T09:10:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "guardrails: uniques, paging index, tenant isolation"

STATEMENTS = [
    "CREATE UNIQUE INDEX guardrails_config_guard_key ON guardrails_config (account_id, guard_type)",
    "CREATE UNIQUE INDEX guardrails_settings_account_key ON guardrails_settings (account_id)",
    "CREATE UNIQUE INDEX guardrails_custom_patterns_name_key ON guardrails_custom_patterns (account_id, lower(name))",
    "CREATE INDEX guardrails_audit_log_account_page ON guardrails_audit_log (account_id, occurred_at DESC, id DESC)",
    "SELECT public.alchemi_isolate_tenant_tables()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="alchemi", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
