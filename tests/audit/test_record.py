"""Capturing audit events: in the same transaction as the change, redacted, owned by one account (or
none), and visible across accounts only in the platform scope."""

from __future__ import annotations

import uuid

import pytest

from app.audit.actor import Actor, set_actor
from app.audit.record import audited_change, record
from app.audit.scope import platform_scope
from app.db.tables import AuditEvent, Team
from app.lib import request_context
from app.tenancy.context import acting_in
from app.tenancy.scoped import scoped


@pytest.fixture
async def piccolo(services, cluster, monkeypatch):  # cluster: migrations applied
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    from app.db.piccolo_conf import DB

    await DB.start_connection_pool(dsn=services.app_database_url, min_size=1, max_size=2)
    yield DB
    await DB.close_connection_pool()


async def _account(db) -> uuid.UUID:
    account_id = uuid.uuid4()
    await db.execute("INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, $2, now(), now())",
                     account_id, f"audit-{account_id.hex[:8]}")
    return account_id


async def test_a_change_and_its_event_commit_together_or_not_at_all(db, piccolo):
    account_id = await _account(db)
    set_actor(Actor("user", "u-1", "account_admin"))
    request_context.set_request("req-audit-0001", "10.1.2.3")
    with acting_in(account_id):
        async with audited_change("team.created", "team") as change:
            row = await scoped(Team).insert(team_alias="blue")
            change.target_id, change.after = row["id"], row
        with pytest.raises(RuntimeError):
            async with audited_change("team.created", "team") as change:
                await scoped(Team).insert(team_alias="lost")
                raise RuntimeError("the change fails after its write")
    events = await db.fetch("SELECT * FROM audit_events WHERE account_id = $1", account_id)
    assert len(events) == 1
    event = events[0]
    assert (event["action"], event["target_id"], event["actor_id"], event["actor_ip"], event["request_id"]) == (
        "team.created", str(row["id"]), "u-1", "10.1.2.3", "req-audit-0001")
    assert await db.fetchval("SELECT count(*) FROM teams WHERE account_id = $1 AND team_alias = 'lost'",
                             account_id) == 0


async def test_secrets_never_reach_the_event_and_only_changed_fields_are_kept(db, piccolo):
    account_id = await _account(db)
    before = {"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": "sk-live-abcdef123456"},
              "rpm": 5, "key_hash": "h1", "notes": "uses sk-abcdefghijkl"}
    after = {**before, "rpm": 10, "key_hash": "h2", "notes": "uses sk-abcdefghijkl"}
    with acting_in(account_id):
        await record("model.updated", target_type="model", target_id="d1", before=before, after=after)
        await record("model.created", target_type="model", target_id="d2", after=before)
    rows = await db.fetch("SELECT action, changes::text AS changes FROM audit_events WHERE account_id = $1 "
                          "ORDER BY action", account_id)
    text = " ".join(row["changes"] for row in rows)
    assert "abcdef123456" not in text and "abcdefghijkl" not in text and "h1" not in text
    updated = next(row for row in rows if row["action"] == "model.updated")
    assert '"rpm"' in updated["changes"] and '"key_hash"' in updated["changes"] and "notes" not in updated["changes"]


async def test_an_event_no_account_owns_is_seen_only_in_the_platform_scope(db, piccolo):
    a, b = await _account(db), await _account(db)
    marker = uuid.uuid4().hex
    await record("login.failed", target_type="login", target_id=marker, account_id=None, outcome="failure")
    with acting_in(a):
        await record("team.deleted", target_type="team", target_id=marker)
    with acting_in(b):
        await record("team.deleted", target_type="team", target_id=marker)
        seen_by_b = await AuditEvent.select(AuditEvent.account_id).where(AuditEvent.target_id == marker)
    assert [row["account_id"] for row in seen_by_b] == [b]
    async with platform_scope():
        everything = await AuditEvent.select(AuditEvent.account_id).where(AuditEvent.target_id == marker)
    assert sorted(map(str, (row["account_id"] for row in everything))) == sorted([str(a), str(b), "None"])
