"""Provisioning and invitations, part 2 (piccolo runs a migration's raw SQL before its tables, so
this follows 08:30:00:000000): uniques, and two SECURITY DEFINER lookups for code that runs before
the account is known (the invitation link, the email job) — each answers one account id, and the data
itself is then read under row-level security with that account bound.

- provisioning_events (instance_id, aggregate_id, sequence) unique: a replayed event finds its row.
- zitadel_users (instance_id, zitadel_user_id) unique: one link per Zitadel user.
- invitations: one open (not accepted) invitation per account and email.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T08:30:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "provisioning and invitation uniques, invitation lookups"

APP_ROLE = "alchemi_app"
_DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET row_security = off"
# (name, parameters, result, body)
FUNCTIONS = [
    # /invitation/accept (GET and POST): the account of a link's token hash.
    ("alchemi_account_of_invitation_token", "text", "uuid",
     "SELECT account_id FROM public.invitations WHERE token_hash = $1"),
    # The email job (tasks/email.py) carries the invitation's id only.
    ("alchemi_account_of_invitation", "uuid", "uuid", "SELECT account_id FROM public.invitations WHERE id = $1"),
]
STATEMENTS = [
    "CREATE UNIQUE INDEX provisioning_events_event_key ON provisioning_events (instance_id, aggregate_id, sequence)",
    "CREATE INDEX provisioning_events_pending_idx ON provisioning_events (received_at) WHERE status = 'pending'",
    "CREATE UNIQUE INDEX zitadel_users_identity_key ON zitadel_users (instance_id, zitadel_user_id)",
    "CREATE UNIQUE INDEX invitations_open_key ON invitations (account_id, lower(email)) WHERE accepted_at IS NULL",
    *(statement for name, parameters, result, body in FUNCTIONS for statement in (
        f"CREATE OR REPLACE FUNCTION public.{name}({parameters}) RETURNS {result} LANGUAGE sql STABLE {_DEFINER} "
        f"AS $fn$ {body} $fn$",
        f"REVOKE ALL ON FUNCTION public.{name}({parameters}) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION public.{name}({parameters}) TO {APP_ROLE}",
    )),
    # The new tenant tables (invitations, zitadel_users) get their tenant_isolation policy right away,
    # not only when `alchemi migrate` ends.
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
