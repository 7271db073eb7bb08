"""Isolation the database enforces: connected as the application's role, a query that lost the
application's account filter still sees one account only, and none when no account is set; every
table with an `account_id` carries the policy (a new table without one fails this file)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import asyncpg
import httpx
import pytest

from app.billing.usage import UsageEvent
from app.db.tables import (TENANT_TABLES, AccountAdmin, BudgetAlert, BudgetUsage, ModelDeployment, Organization,
                           SpendDaily, Team, TeamMembership, UsageRecord, User, VirtualKey)
from app.embedded import APP_ROLE
from app.tenancy.context import acting_in
from app.tenancy.database import bind_account
from tasks.usage import record_usage
from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows

_TENANT_TABLES_IN_CATALOG = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       (SELECT string_agg(pg_get_expr(p.polqual, p.polrelid) || ' / ' || pg_get_expr(p.polwithcheck, p.polrelid), '; ')
          FROM pg_policy p WHERE p.polrelid = c.oid) AS expressions
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped)
ORDER BY c.relname
"""


_FILLED = (AccountAdmin, Organization, Team, User, TeamMembership, ModelDeployment, VirtualKey, UsageRecord, SpendDaily,
           BudgetUsage, BudgetAlert)


def _world(admin, fake, name: str) -> dict[str, str]:
    """An account with a row in every tenant table the API writes: admins, organization, team, user,
    membership, deployment, a budgeted key and a request on it (ledger, daily roll-up, budget period)."""
    account_id = admin.create_account(name, admin_emails=[f"boss@{name}.example.com"])
    organization = admin.ok("POST", "/organization/new", account_id, json={"organization_alias": "org"})
    team = admin.ok("POST", "/team/new", account_id,
                    json={"team_alias": "team", "organization_id": organization["organization_id"]})
    user = admin.ok("POST", "/user/new", account_id,
                    json={"user_email": f"u@{name}.example.com", "teams": [team["team_id"]]})
    admin.add_model(account_id, "m", fake.base_url, api_key=CANARY_PROVIDER_KEY, input_cost_per_token=0.000001)
    key = admin.generate_key(account_id, user_id=user["user_id"], team_id=team["team_id"], max_budget=100,
                             budget_duration="1d")
    return {"account_id": account_id, "key": key["key"], "key_id": key["token"]}


@pytest.fixture(scope="module")
async def worlds(admin, fake, api, services):
    suffix = uuid.uuid4().hex[:6]
    a, b = _world(admin, fake, f"rls-a-{suffix}"), _world(admin, fake, f"rls-b-{suffix}")
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=2)
    try:
        for world in (a, b):
            reply = httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {world['key']}"},
                               json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
            assert reply.status_code == 200, reply.text
            await wait_for_rows(pool, "account_id = $1", uuid.UUID(world["account_id"]), expected=1)
            # Alerts are written by the worker only when a threshold is crossed: one by hand.
            await pool.execute(
                "INSERT INTO budget_alerts (account_id, level, entity_id, period_end, threshold, spend, max_budget, "
                "created_at, delivered_at) VALUES ($1, 'key', $2, $3, 50, 1, 2, now(), now())",
                uuid.UUID(world["account_id"]), uuid.UUID(world["key_id"]), datetime.now(timezone.utc))
    finally:
        await pool.close()
    return a, b


async def _tenant_tables(db) -> list[str]:
    return [row["relname"] for row in await db.fetch(_TENANT_TABLES_IN_CATALOG)]


async def test_without_the_application_filter_the_app_role_sees_the_bound_account_only(services, db, worlds):
    a, b = (uuid.UUID(world["account_id"]) for world in worlds)
    tables = await _tenant_tables(db)
    conn = await asyncpg.connect(services.app_database_url)
    try:
        for table in tables:
            mine = await db.fetchval(f"SELECT count(*) FROM {table} WHERE account_id = $1", a)
            async with conn.transaction():
                await bind_account(conn, a)
                seen = await conn.fetch(f"SELECT account_id FROM {table}")  # no WHERE: the policy filters
            assert {row["account_id"] for row in seen} <= {a}, table
            assert len(seen) == mine, table
        # The other account has rows in each table the worlds fill, so the check above had something to hide.
        for table in (t._meta.tablename for t in _FILLED):
            assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE account_id = $1", b) > 0, table
    finally:
        await conn.close()


async def test_with_no_account_set_nothing_is_visible_and_nothing_can_be_written(services, db, worlds):
    a, b = (uuid.UUID(world["account_id"]) for world in worlds)
    conn = await asyncpg.connect(services.app_database_url)
    try:
        for table in await _tenant_tables(db):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
            assert await conn.execute(f"UPDATE {table} SET account_id = account_id") == "UPDATE 0", table
            assert await conn.execute(f"DELETE FROM {table}") == "DELETE 0", table
        insert = ("INSERT INTO organizations (id, account_id, organization_alias, models, spend, metadata, created_at, "
                  "updated_at) VALUES ($1, $2, 'intruder', '{}', 0, '{}', now(), now())")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(insert, uuid.uuid4(), a)
        # Bound to A: B's rows are out of reach, and nothing can be written into B.
        async with conn.transaction():
            await bind_account(conn, a)
            assert await conn.execute("UPDATE virtual_keys SET key_alias = 'stolen' WHERE account_id = $1", b) \
                == "UPDATE 0"
            assert await conn.execute("DELETE FROM teams WHERE account_id = $1", b) == "DELETE 0"
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                async with conn.transaction():
                    await conn.execute(insert, uuid.uuid4(), b)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                async with conn.transaction():
                    await conn.execute("UPDATE virtual_keys SET account_id = $1", b)
        # The setting is local to the transaction: the pooled connection forgets it at commit.
        assert await conn.fetchval("SELECT count(*) FROM virtual_keys") == 0
        assert await conn.fetchval("SELECT current_setting('app.account_id', true)") == ""
    finally:
        await conn.close()


async def test_every_table_with_an_account_id_has_forced_row_level_security_and_a_policy(db):
    rows = await db.fetch(_TENANT_TABLES_IN_CATALOG)
    unguarded = [row["relname"] for row in rows
                 if not (row["relrowsecurity"] and row["relforcerowsecurity"] and row["policies"] > 0)]
    assert unguarded == [], "tenant tables without forced row-level security or a policy"
    for row in rows:
        assert row["expressions"].count("current_setting('app.account_id'::text, true)") >= 2, row["relname"]
    assert {t._meta.tablename for t in TENANT_TABLES} <= {row["relname"] for row in rows}
    views = await db.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
        "AND c.relkind = 'v' AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)")
    assert views == [], "views must be security_invoker, or they read with their owner's rights"


async def test_a_tenant_table_added_later_is_isolated_by_the_next_migrate(db, cluster):
    table = f"later_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, account_id uuid NOT NULL)")
    try:
        cluster.migrate()  # `alchemi migrate`, as every deploy runs it
        row = await db.fetchrow("SELECT relrowsecurity, relforcerowsecurity, (SELECT count(*) FROM pg_policy "
                                "WHERE polrelid = c.oid) AS policies FROM pg_class c WHERE relname = $1", table)
        assert dict(row) == {"relrowsecurity": True, "relforcerowsecurity": True, "policies": 1}
    finally:
        await db.execute(f"DROP TABLE {table}")


async def test_the_app_role_owns_nothing_bypasses_nothing_and_is_what_the_processes_use(db, cluster):
    role = await db.fetchrow("SELECT oid, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                             "WHERE rolname = $1", APP_ROLE)
    assert role is not None
    assert not (role["rolsuper"] or role["rolbypassrls"] or role["rolcreaterole"] or role["rolcreatedb"])
    owned = await db.fetchval(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = $1) "
        "+ (SELECT count(*) FROM pg_proc WHERE proowner = $1) "
        "+ (SELECT count(*) FROM pg_namespace WHERE nspowner = $1)", role["oid"])
    assert owned == 0
    # The cross-account lookups are SECURITY DEFINER functions with a pinned search_path, for the app role only.
    functions = await db.fetch(
        "SELECT p.proname, p.proconfig, has_function_privilege($1, p.oid, 'EXECUTE') AS app, "
        "array_to_string(p.proacl, ',') AS acl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname LIKE 'alchemi%' AND p.prosecdef", APP_ROLE)
    assert {row["proname"] for row in functions} >= {"alchemi_account_of_key_hash", "alchemi_account_admins"}
    for row in functions:
        assert any(setting.startswith("search_path=") for setting in row["proconfig"]), row["proname"]
        assert row["app"], row["proname"]
        assert not any(entry.startswith("=") for entry in row["acl"].split(",")), f"{row['proname']}: PUBLIC may run it"
    assert f"{APP_ROLE}:" in cluster.env["ALCHEMI_APP_DATABASE_URL"]
    sessions = await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = "
                                 "current_database()", APP_ROLE)
    assert sessions >= 2, "the API and the worker connect as the application role"


async def test_the_engine_binds_the_current_account_to_every_query_and_transaction(services, worlds, monkeypatch):
    a, b = (uuid.UUID(world["account_id"]) for world in worlds)
    monkeypatch.setenv("DATABASE_URL", services.database_url)  # read when piccolo's engine is made (on import)
    from app.db.piccolo_conf import DB

    await DB.start_connection_pool(dsn=services.app_database_url, min_size=1, max_size=2)
    try:
        assert await VirtualKey.select(VirtualKey.account_id) == []  # no account: nothing
        with acting_in(a):
            keys = await VirtualKey.select(VirtualKey.account_id)  # no filter: the database filters
        assert keys and {row["account_id"] for row in keys} == {a}
        async with DB.transaction():
            with acting_in(a):
                teams_a = await Team.select(Team.account_id)
            with acting_in(b):
                teams_b = await Team.select(Team.account_id)
            outside = await Team.select(Team.account_id)
        assert {row["account_id"] for row in teams_a} == {a} and {row["account_id"] for row in teams_b} == {b}
        assert outside == []
    finally:
        await DB.close_connection_pool()


async def test_one_usage_batch_across_accounts_is_written_once_as_the_app_role(services, db, worlds):
    """The worker binds each account of a batch in turn inside one transaction; a re-run writes nothing."""
    now = time.time()
    events = [UsageEvent(request_id=uuid.uuid4().hex, account_id=world["account_id"], call_type="chat", model="m",
                         model_group="m", provider="openai", upstream_model="fake-model", status="success",
                         started_at=now, ended_at=now + 0.01, key_id=world["key_id"], prompt_tokens=10,
                         completion_tokens=0, input_cost_per_token="0.001")
              for world in worlds]
    spend_before = [await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(world["key_id"]))
                    for world in worlds]
    pool = await asyncpg.create_pool(services.app_database_url, min_size=1, max_size=2)
    try:
        ctx = {"db": pool, "job_try": 1}
        assert await record_usage(ctx, None, events) == 2
        assert await record_usage(ctx, None, list(reversed(events))) == 0
    finally:
        await pool.close()
    rows = await db.fetch("SELECT account_id, cost FROM usage_ledger WHERE request_id = ANY($1)",
                          [event.request_id for event in events])
    assert sorted(str(row["account_id"]) for row in rows) == sorted(world["account_id"] for world in worlds)
    for world, before in zip(worlds, spend_before):
        spend = await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(world["key_id"]))
        assert spend - before == Decimal("0.01")
