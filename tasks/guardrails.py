"""Writes batches of guardrail hits (app/guardrails/hits.py) into guardrails_audit_log, exactly once:
each hit's id is its row's primary key, so a re-run or a second enqueue of a batch inserts nothing new."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import asyncpg
import msgspec
from arq import Retry

from app.guardrails.hits import HitRecord
from app.tenancy.database import bind_account

log = logging.getLogger("alchemi.tasks.guardrails")

# Columns in HitRecord's field order; ids travel as text (asyncpg encodes text into uuid), times as epochs.
_INSERT = """
INSERT INTO guardrails_audit_log (id, account_id, occurred_at, guard_type, name, action, direction, call_type, model,
    count, request_id, key_id, user_id)
SELECT r.id, r.account_id, to_timestamp(r.occurred_at), r.guard_type, r.name, r.action, r.direction, r.call_type,
    r.model, r.count, r.request_id, r.key_id, r.user_id
FROM unnest($1::uuid[], $2::uuid[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::int[], $11::text[], $12::uuid[], $13::uuid[])
    AS r(id, account_id, occurred_at, guard_type, name, action, direction, call_type, model, count, request_id,
         key_id, user_id)
ON CONFLICT (id) DO NOTHING
"""


async def record_guardrail_hits(ctx: dict[str, Any], batch_id: str, hits: list[Any]) -> int:
    """One transaction for the batch, account by account (row-level security admits one bound account's
    rows at a time); returns how many hits it was given."""
    by_account: dict[str, list[tuple]] = defaultdict(list)
    for hit in msgspec.convert(hits, list[HitRecord]):
        by_account[hit.account_id].append(msgspec.structs.astuple(hit))
    pool: asyncpg.Pool = ctx["db"]
    try:
        async with pool.acquire() as conn, conn.transaction():
            for account_id in sorted(by_account):
                await bind_account(conn, account_id)
                await conn.execute(_INSERT, *zip(*by_account[account_id]))
    except Exception as exc:  # noqa: BLE001 - rolled back as a whole: retrying is safe
        log.warning("guardrail hits not written; retrying",
                    extra={"error": type(exc).__name__, "batch_id": batch_id, "try": ctx.get("job_try")})
        raise Retry(defer=min(ctx.get("job_try", 1), 10)) from exc
    return sum(len(rows) for rows in by_account.values())
