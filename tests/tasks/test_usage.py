"""The usage ledger: exactly one row per request, whatever the mix, the concurrency or the crashes."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import httpx
import openai
import pytest

from app.billing.usage import UsageEvent
from tasks.usage import record_usage
from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "count my tokens please"}]  # 4 words + 3 = 7 prompt tokens


async def _mixed_request(client: openai.AsyncOpenAI, model: str, kind: int) -> str:
    """One request of a mixed load; returns what kind of call it was."""
    if kind == 0:
        await client.chat.completions.create(model=model, messages=MESSAGES)
        return "chat"
    if kind == 1:
        async for _ in await client.chat.completions.create(model=model, messages=MESSAGES, stream=True):
            pass
        return "stream"
    if kind == 2:
        stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                      stream_options={"include_usage": True})
        async for _ in stream:
            pass
        return "stream+usage"
    if kind == 3:
        await client.embeddings.create(model="embedder", input="count these")
        return "embeddings"
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="broken", messages=MESSAGES)
    return "error"


async def test_n_concurrent_mixed_requests_make_exactly_n_rows_and_exact_spend(api, admin, fake, tenant, db):
    admin.add_model(tenant.account_id, "embedder", fake.base_url, upstream="openai/text-embedding-3-small",
                    api_key=CANARY_PROVIDER_KEY, input_cost_per_token=0.0000001)
    admin.add_model(tenant.account_id, "broken", fake.base_url, upstream="openai/error-500", api_key=CANARY_PROVIDER_KEY)
    client = openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)
    n = 60

    kinds = await asyncio.gather(*(_mixed_request(client, tenant.model, i % 5) for i in range(n)))

    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(tenant.account_id), expected=n)
    assert len(rows) == n
    assert len({row["request_id"] for row in rows}) == n
    chats = [row for row in rows if row["call_type"] == "chat" and row["status"] == "success"]
    assert len(chats) == kinds.count("chat") + kinds.count("stream") + kinds.count("stream+usage")
    assert all(row["prompt_tokens"] == 7 and row["completion_tokens"] == 5 for row in chats)
    assert all(row["cost"] == Decimal("0.000017") for row in chats)  # 7 × 1e-6 + 5 × 2e-6
    errors = [row for row in rows if row["status"] == "error"]
    assert len(errors) == kinds.count("error") and all(row["cost"] == 0 for row in errors)
    assert all(row["key_id"] == uuid.UUID(tenant.key_id) for row in rows)

    info = admin.ok("GET", f"/key/info?key={tenant.key_id}", tenant.account_id)["info"]
    assert Decimal(str(info["spend"])) == sum(row["cost"] for row in rows)


async def test_record_usage_twice_writes_once_and_charges_once(db, tenant):
    now = time.time()
    event = UsageEvent(request_id=uuid.uuid4().hex, account_id=tenant.account_id, call_type="chat", model="m",
                       model_group="m", provider="openai", upstream_model="fake-model", status="success",
                       started_at=now, ended_at=now + 0.01, key_id=tenant.key_id, prompt_tokens=10,
                       completion_tokens=10, input_cost_per_token="0.001", output_cost_per_token="0.002")
    ctx = {"db": db, "job_try": 1}

    assert await record_usage(ctx, None, [event]) == 1
    assert await record_usage(ctx, None, [event, event]) == 0

    rows = await db.fetch("SELECT cost FROM usage_ledger WHERE request_id = $1", event.request_id)
    assert [row["cost"] for row in rows] == [Decimal("0.03")]
    spend = await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id))
    assert spend == Decimal("0.03")


async def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(cluster, api, tenant, db):
    """Kill every worker, queue a backlog, start a worker and SIGKILL it while it works, then let a
    fresh one finish: the ledger must hold each request exactly once and spend must match it."""
    for worker in [p for p in cluster.processes if p.name == "worker" and p.alive()]:
        worker.kill()
    n = 400
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
        semaphore = asyncio.Semaphore(32)

        async def one() -> None:
            async with semaphore:
                response = await client.post(f"{api.url}/v1/chat/completions",
                                             headers={"authorization": f"Bearer {tenant.key}"},
                                             json={"model": tenant.model, "messages": MESSAGES})
                assert response.status_code == 200

        await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.sleep(0.5)  # the API's buffer hands the last events to Redis

    doomed = cluster.start_worker(extra_env={"ALCHEMI_USAGE_JOB_TIMEOUT": "3"})
    account = uuid.UUID(tenant.account_id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        written = await db.fetchval("SELECT count(*) FROM usage_ledger WHERE account_id = $1", account)
        if written > 0:
            break
        await asyncio.sleep(0.01)
    doomed.kill()
    written_at_kill = await db.fetchval("SELECT count(*) FROM usage_ledger WHERE account_id = $1", account)

    cluster.start_worker(extra_env={"ALCHEMI_USAGE_JOB_TIMEOUT": "3"})
    rows = await wait_for_rows(db, "account_id = $1", account, expected=n, timeout=45)
    assert len(rows) == n, f"{written_at_kill} rows were written when the worker was killed"
    assert len({row["request_id"] for row in rows}) == n
    spend = await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id))
    assert spend == sum(row["cost"] for row in rows) == Decimal("0.000017") * n
