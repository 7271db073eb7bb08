"""Faults that must lose nothing and double nothing in the ledger (and in budgets)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import CANARY_PROVIDER_KEY, make_tenant
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "count my tokens please"}]
CALL_COST = Decimal("0.000017")


def _workers(cluster):
    return [p for p in cluster.processes if p.name == "worker" and p.alive()]


async def _chat(client: httpx.AsyncClient, url: str, key: str, model: str, **body) -> httpx.Response:
    return await client.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                             json={"model": model, "messages": MESSAGES, **body})


async def test_redis_losing_everything_while_jobs_are_queued_loses_no_usage_and_no_budget(
        cluster, api, admin, fake, db, services):
    """Usage batches are in PostgreSQL's outbox before they are queued; the sweeper queues them
    again. Budget counters are restored from the recorded periods before they are used again."""
    budget = CALL_COST * 12 + Decimal("0.00004")  # room for ~12 sequential calls
    tenant = make_tenant(admin, fake, max_budget=float(budget), budget_duration="1d")
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(5):
            assert (await _chat(client, api.url, tenant.key, tenant.model, max_tokens=5)).status_code == 200
        account = uuid.UUID(tenant.account_id)
        assert len(await wait_for_rows(db, "account_id = $1", account, expected=5)) == 5

        for worker in _workers(cluster):
            worker.kill()
        for _ in range(4):
            assert (await _chat(client, api.url, tenant.key, tenant.model, max_tokens=5)).status_code == 200
        await asyncio.sleep(0.5)  # flushed: in the outbox and in the queue

        redis = aioredis.from_url(services.redis_url)
        assert await redis.zcard("alchemi:usage") >= 1, "the batches are waiting in the queue"
        await redis.flushall()  # Redis comes back empty: queue, job keys and budget counters are gone
        await redis.aclose()

        # Budgets hold right away: the counter is seeded from what PostgreSQL recorded (5 calls).
        admitted = 0
        while admitted < 20:
            if (await _chat(client, api.url, tenant.key, tenant.model, max_tokens=5)).status_code != 200:
                break
            admitted += 1
        assert 5 + 4 + admitted <= 13, "the budget must not restart from zero"

    cluster.start_worker(extra_env={"ALCHEMI_OUTBOX_GRACE_S": "1"})
    rows = await wait_for_rows(db, "account_id = $1", account, expected=9 + admitted, timeout=40)
    assert len(rows) == 9 + admitted
    assert len({row["request_id"] for row in rows}) == len(rows)
    assert sum(row["cost"] for row in rows) <= budget
    spend = await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id))
    assert spend == sum(row["cost"] for row in rows)
    pending = await db.fetchval("SELECT count(*) FROM usage_outbox WHERE processed_at IS NULL")
    assert pending == 0


async def test_postgres_down_for_ten_seconds_during_recording_loses_nothing(api, admin, fake, db, services):
    tenant = make_tenant(admin, fake)
    headers = {"authorization": f"Bearer {tenant.key}"}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await _chat(client, api.url, tenant.key, tenant.model)).status_code == 200  # warm caches
        database = await db.fetchval("SELECT current_database()")
        admin_conn = await asyncpg.connect(services.database_url, database="postgres")
        statuses = []
        try:
            await admin_conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            await admin_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                                     database)
            outage_ends = time.monotonic() + 10
            while time.monotonic() < outage_ends:
                response = await client.post(f"{api.url}/v1/chat/completions", headers=headers,
                                             json={"model": tenant.model, "messages": MESSAGES})
                statuses.append(response.status_code)
                await asyncio.sleep(0.2)
        finally:
            await admin_conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await admin_conn.close()
    assert statuses and set(statuses) == {200}, "warm requests do not need PostgreSQL"
    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(tenant.account_id), expected=len(statuses) + 1,
                               timeout=40)
    assert len(rows) == len(statuses) + 1


async def test_sigterm_with_fifty_streams_in_flight_drains_them_and_records_them(cluster, admin, fake, db):
    process = cluster.start_api()
    tenant = make_tenant(admin, fake)
    admin.add_model(tenant.account_id, "slow", fake.base_url, upstream="openai/slow-100", api_key=CANARY_PROVIDER_KEY)

    async def stream(client: httpx.AsyncClient) -> str:
        text = ""
        async with client.stream("POST", f"{process.url}/v1/chat/completions",
                                 headers={"authorization": f"Bearer {tenant.key}"},
                                 json={"model": "slow", "stream": True, "messages": MESSAGES}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                text += line + "\n"
        return text

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=60)) as client:
        streams = [asyncio.create_task(stream(client)) for _ in range(50)]
        deadline = time.monotonic() + 10
        while fake.state.open_streams < 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert fake.state.open_streams >= 50, "all fifty are in flight"
        process.popen.send_signal(signal.SIGTERM)
        bodies = await asyncio.gather(*streams)

    assert all(body.rstrip().endswith("data: [DONE]") for body in bodies), "every stream finished"
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status reflects it.
    assert process.popen.wait(30) in (0, -signal.SIGTERM)
    rows = await wait_for_rows(db, "account_id = $1 AND model = 'slow'", uuid.UUID(tenant.account_id), expected=50)
    assert len(rows) == 50 and {row["status"] for row in rows} == {"success"}


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_that_reports_no_usage_is_counted_by_the_gateway(api, admin, fake, db, tenant, stream):
    admin.add_model(tenant.account_id, "quiet", fake.base_url, upstream="openai/no-usage-model",
                    api_key=CANARY_PROVIDER_KEY, input_cost_per_token=0.000001, output_cost_per_token=0.000002)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await _chat(client, api.url, tenant.key, "quiet", stream=stream)
    assert response.status_code == 200
    assert '"usage"' not in response.text or stream is False

    rows = await wait_for_rows(db, "request_id = $1", response.headers["x-request-id"], expected=1)
    from app.billing.tokens import count_messages, count_text

    assert rows[0]["usage_estimated"] is True
    assert rows[0]["prompt_tokens"] == count_messages(MESSAGES)
    assert rows[0]["completion_tokens"] == count_text("Hello w1 w2 w3 w4 from upstream-a")
    assert rows[0]["cost"] > 0
