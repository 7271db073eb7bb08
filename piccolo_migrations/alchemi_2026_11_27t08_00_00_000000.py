"""Isolation the database enforces: row-level security on every tenant-owned table, the application's
own role (`alchemi_app`: owns nothing, no BYPASSRLS), and the few SECURITY DEFINER functions for the
lookups that legitimately run before the account is known or across accounts.

Policy: a row is visible and writable only while `app.account_id` (set per transaction with
`set_config('app.account_id', …, true)`) names its account; unset means no rows and no inserts.
`alchemi_isolate_tenant_tables()` applies it to every table with an `account_id` column and makes views
`security_invoker`; `alchemi migrate` runs it after every migration, so later tables are covered too.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "row-level security, the application role, definer functions for cross-account lookups"

APP_ROLE = "alchemi_app"
_CURRENT = "NULLIF(current_setting('app.account_id', true), '')::uuid"
# Definer functions run as the owner: fully qualified names, a pinned search_path, and row_security off
# so that an owner who cannot bypass RLS gets an error instead of silently empty answers.
_DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET row_security = off"

ROLE = [
    f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOBYPASSRLS;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO {APP_ROLE}', current_database());
    END $$""",
    f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
    f"REVOKE ALL ON TABLE public.migration FROM {APP_ROLE}",
    f"REVOKE ALL ON SEQUENCE public.migration_id_seq FROM {APP_ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
]

ISOLATE = f"""
CREATE OR REPLACE FUNCTION public.alchemi_isolate_tenant_tables() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    target record;
    isolated integer := 0;
BEGIN
    FOR target IN
        SELECT c.oid::regclass AS rel FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target.rel);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target.rel);
        IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = target.rel AND polname = 'tenant_isolation') THEN
            EXECUTE format($policy$CREATE POLICY tenant_isolation ON %s USING (account_id = {_CURRENT})
                           WITH CHECK (account_id = {_CURRENT})$policy$, target.rel);
        END IF;
        isolated := isolated + 1;
    END LOOP;
    FOR target IN
        SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'v'
          AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)
    LOOP
        EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', target.rel);
    END LOOP;
    RETURN isolated;
END
$fn$
"""

# (name, parameters, result, body): each answers as little as its caller needs; the data itself is then
# read under RLS with the account set.
FUNCTIONS = [
    # The API, before the account is known: which account a key hash belongs to (auth/queries.py).
    ("alchemi_account_of_key_hash", "text", "uuid",
     "SELECT account_id FROM public.virtual_keys WHERE key_hash = $1"),
    # The super admin's account list: each account's admins (admin/accounts/service.py).
    ("alchemi_account_admins", "uuid[]", "TABLE (account_id uuid, email text)",
     "SELECT a.account_id, a.email::text FROM public.account_admins a WHERE a.account_id = ANY($1) "
     "ORDER BY a.account_id, a.email"),
    # Workers (tasks/budgets.py, tasks/health.py, tasks/usage.py): which accounts have work to do.
    ("alchemi_accounts_with_due_budgets", "timestamptz", "SETOF uuid",
     " UNION ".join(f"SELECT account_id FROM public.{table} WHERE budget_duration IS NOT NULL "
                    "AND (budget_reset_at IS NULL OR budget_reset_at <= $1)"
                    for table in ("virtual_keys", "users", "teams", "organizations"))),
    ("alchemi_accounts_with_live_budget_periods", "timestamptz", "SETOF uuid",
     "SELECT DISTINCT account_id FROM public.budget_usage "
     "WHERE period_end > $1 OR period_end = '1970-01-01 00:00:00+00'::timestamptz"),
    ("alchemi_undelivered_budget_alerts", "interval, integer", "SETOF bigint",
     "SELECT id FROM public.budget_alerts WHERE delivered_at IS NULL AND created_at < now() - $1 "
     "ORDER BY id LIMIT $2"),
    ("alchemi_account_of_budget_alert", "bigint", "uuid",
     "SELECT account_id FROM public.budget_alerts WHERE id = $1"),
    ("alchemi_accounts_with_health_checks", "", "SETOF uuid",
     "SELECT DISTINCT account_id FROM public.model_deployments WHERE (model_info->>'health_check')::boolean IS TRUE"),
]


def _function(name: str, parameters: str, result: str, body: str) -> list[str]:
    signature = f"public.{name}({parameters})"
    return [
        f"CREATE OR REPLACE FUNCTION {signature} RETURNS {result} LANGUAGE sql STABLE {_DEFINER} AS $fn$ {body} $fn$",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}",
    ]


STATEMENTS = [
    *ROLE,
    ISOLATE,
    "REVOKE ALL ON FUNCTION public.alchemi_isolate_tenant_tables() FROM PUBLIC",
    "SELECT public.alchemi_isolate_tenant_tables()",
    *(statement for function in FUNCTIONS for statement in _function(*function)),
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="alchemi", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
