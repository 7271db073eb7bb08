"""Retention: events older than ALCHEMI_AUDIT_LOG_RETENTION_DAYS are deleted, a bounded batch per statement,
shipped or not; newer ones stay."""

from __future__ import annotations

import asyncpg

from app.audit.retention import purge_expired
from tasks.audit import purge_audit_events
from tests.audit.outbox_support import make_events, new_account, piccolo

__all__ = ["piccolo"]  # fixture


async def _age(db, ids, days: int) -> None:
    await db.execute(f"UPDATE audit_events SET occurred_at = now() - interval '{days} days' "
                     "WHERE id = ANY($1::uuid[])", ids)


async def _left(db, ids) -> set:
    return {row["id"] for row in await db.fetch("SELECT id FROM audit_events WHERE id = ANY($1::uuid[])", ids)}


async def test_old_events_go_in_bounded_batches_and_recent_ones_stay(services, db, piccolo):
    account_id = await new_account(db)
    old = await make_events(account_id, 11) + await make_events(None, 1, action="login.failed",
                                                                   target_type="login")
    recent = await make_events(account_id, 3)
    await _age(db, old, 31)
    await _age(db, recent[:1], 29)
    # Some old ones were shipped, some never were: retention wins over shipping.
    await db.execute("UPDATE audit_events SET shipped_at = now() WHERE id = ANY($1::uuid[])", old[:4])

    pool = await asyncpg.create_pool(services.app_database_url, min_size=1, max_size=2)  # the worker's role
    try:
        report = await purge_expired(pool, 30, batch_size=5)
        again = await purge_expired(pool, 30, batch_size=5)
    finally:
        await pool.close()
    assert await _left(db, old) == set()
    assert await _left(db, recent) == set(recent)
    assert report.deleted >= 12 and report.batches >= 3, report  # 12 rows, at most 5 per statement
    assert again.deleted == 0 and again.batches == 1


async def test_the_cron_job_uses_the_configured_retention_and_zero_keeps_everything(services, db, piccolo):
    ids = await make_events(await new_account(db), 2)
    await _age(db, ids, 40)
    pool = await asyncpg.create_pool(services.app_database_url, min_size=1, max_size=2)
    try:
        assert await purge_audit_events({"db": pool, "audit_retention_days": 0}) == 0
        assert await _left(db, ids) == set(ids)
        assert await purge_audit_events({"db": pool, "audit_retention_days": 90}) >= 0
        assert await _left(db, ids) == set(ids), "40 days is within 90"
        assert await purge_audit_events({"db": pool, "audit_retention_days": 35}) >= 2
        assert await _left(db, ids) == set()
    finally:
        await pool.close()
