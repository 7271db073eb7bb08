"""A client that drops a stream halfway: the upstream call is cancelled and usage is still recorded once."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows


async def test_dropped_stream_cancels_upstream_and_records_one_usage_row(api, admin, fake, tenant, db):
    # slow-300: the fake waits 300 ms before each of its chunks.
    admin.add_model(tenant.account_id, "slow", fake.base_url, upstream="openai/slow-300", api_key=CANARY_PROVIDER_KEY)
    cancelled_before = fake.state.cancelled_streams
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", f"{api.url}/v1/chat/completions",
                                 headers={"authorization": f"Bearer {tenant.key}"},
                                 json={"model": "slow", "stream": True,
                                       "messages": [{"role": "user", "content": "tell me a long story"}]}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            received = 0
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    received += 1
                if received == 2:
                    break  # the client goes away mid-stream

    deadline = time.monotonic() + 5
    while fake.state.cancelled_streams == cancelled_before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.state.cancelled_streams == cancelled_before + 1, "the upstream stream must be cancelled too"

    rows = await wait_for_rows(db, "request_id = $1", request_id, expected=1)
    assert rows[0]["status"] == "client_disconnected"
    assert rows[0]["stream"] is True
    assert rows[0]["completion_tokens"] >= 1, "partial output is still counted"
