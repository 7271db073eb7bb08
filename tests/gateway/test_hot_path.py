"""With warm caches, a chat request touches Redis only: it keeps working while PostgreSQL refuses everyone."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "no database please"}]


async def test_warm_requests_need_no_postgres(api, tenant, db, services):
    headers = {"authorization": f"Bearer {tenant.key}"}
    body = {"model": tenant.model, "messages": MESSAGES}
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        assert (await client.post("/v1/chat/completions", json=body, headers=headers)).status_code == 200

        database = await db.fetchval("SELECT current_database()")
        # From the maintenance database: a database cannot close its own doors.
        conn = await asyncpg.connect(services.database_url, database="postgres")
        try:
            await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database)
                statuses = [
                    (await client.post("/v1/chat/completions", json=body, headers=headers)).status_code
                    for _ in range(50)
                ]
                streamed = await client.post("/v1/chat/completions", json={**body, "stream": True}, headers=headers)
            finally:
                await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        finally:
            await conn.close()

    assert statuses == [200] * 50
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    # The worker could not write meanwhile; it retries, and every request still lands once.
    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(tenant.account_id), expected=52, timeout=30)
    assert len(rows) == 52
