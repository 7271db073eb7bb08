"""The worker's side of the hit log: a batch of hits (several accounts) becomes rows under row-level
security, and the same batch run again — a retry, a second enqueue — writes nothing twice."""

from __future__ import annotations

import os
import time
import uuid

import asyncpg
import msgspec

from app.guardrails.hits import HitRecord
from tasks.guardrails import record_guardrail_hits


async def _account(db) -> str:
    account_id = uuid.uuid4()
    await db.execute("INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, $2, now(), now())",
                     account_id, f"hits-{account_id.hex[:8]}")
    return str(account_id)


def _hit(account_id: str, name: str, count: int = 1, key_id: str | None = None) -> HitRecord:
    return HitRecord(os.urandom(16).hex(), account_id, time.time(), "pii", name, "mask", "input", "chat", "gpt",
                     count, request_id=uuid.uuid4().hex, key_id=key_id)


async def test_a_batch_is_written_once_per_hit_whatever_the_reruns(services, cluster, db):
    first, second = await _account(db), await _account(db)
    key = str(uuid.uuid4())
    batch = [_hit(first, "email", 2, key), _hit(second, "phone"), _hit(first, "iban")]
    payload = msgspec.to_builtins(batch)  # as the job receives it off the queue
    pool = await asyncpg.create_pool(services.app_database_url, min_size=1, max_size=2)  # the workers' role
    try:
        for _ in range(2):
            assert await record_guardrail_hits({"db": pool}, "batch-1", payload) == 3
    finally:
        await pool.close()

    rows = await db.fetch("SELECT * FROM guardrails_audit_log WHERE account_id = ANY($1::uuid[]) ORDER BY name",
                          [uuid.UUID(first), uuid.UUID(second)])
    assert [(str(r["account_id"]), r["name"], r["count"]) for r in rows] == [
        (first, "email", 2), (first, "iban", 1), (second, "phone", 1)]
    email = rows[0]
    assert (str(email["id"]), str(email["key_id"]), email["request_id"]) == (
        str(uuid.UUID(batch[0].id)), key, batch[0].request_id)
    assert abs(email["occurred_at"].timestamp() - batch[0].occurred_at) < 0.001
