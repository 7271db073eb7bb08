"""Retention of the audit trail: events older than ALCHEMI_AUDIT_LOG_RETENTION_DAYS are deleted, a bounded
batch per short transaction, so no long lock or giant transaction ever holds the table.

Retention wins over shipping: an event still unshipped when it expires (OpenObserve away for longer than
the retention) is deleted too; the backlog metric shows such an outage long before.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import msgspec

from app.audit.scope import enter_platform_scope

_PURGE = """
DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)
"""


class PurgeReport(msgspec.Struct):
    deleted: int = 0
    batches: int = 0  # statements run (each its own transaction)


async def purge_expired(pool: asyncpg.Pool, retention_days: int, *, batch_size: int = 5000,
                        max_batches: int = 200) -> PurgeReport:
    """Delete events older than `retention_days` (0 keeps everything); up to `max_batches` batches per run,
    the next run goes on."""
    report = PurgeReport()
    if retention_days <= 0:
        return report
    cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
    while report.batches < max_batches:
        async with pool.acquire() as conn, conn.transaction():
            await enter_platform_scope(conn)
            status = await conn.execute(_PURGE, cutoff, batch_size)
        deleted = int(status.split()[-1])
        report.deleted += deleted
        report.batches += 1
        if deleted < batch_size:
            break
    return report
