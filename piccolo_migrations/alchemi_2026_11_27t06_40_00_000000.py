"""Uniques the money tables rely on (upserts per day / per period / per threshold), and the outbox sweep index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T06:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "money uniques"

_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
STATEMENTS = [
    f"""CREATE UNIQUE INDEX spend_daily_bucket_key ON spend_daily (day, account_id, COALESCE(organization_id, {_NIL}),
        COALESCE(team_id, {_NIL}), COALESCE(user_id, {_NIL}), COALESCE(key_id, {_NIL}), model_group)""",
    "CREATE UNIQUE INDEX budget_usage_period_key ON budget_usage (level, entity_id, period_end)",
    "CREATE UNIQUE INDEX budget_alerts_once_key ON budget_alerts (level, entity_id, period_end, threshold)",
    "CREATE INDEX usage_outbox_pending_idx ON usage_outbox (created_at) WHERE processed_at IS NULL",
    "ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_cost_non_negative CHECK (cost >= 0 AND provider_cost >= 0)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="alchemi", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
