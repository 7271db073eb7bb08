"""Admission holds fleet-wide: budgets never overshoot under concurrency, rate limits are not
multiplied by the number of API processes, and a Redis outage fails fast instead of hanging."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import httpx
import pytest

from tests.conftest import CANARY_PROVIDER_KEY, make_tenant
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "count my tokens please"}]  # the fake counts 7 prompt tokens
CALL_COST = Decimal("0.000017")  # 7 × 1e-6 + 5 × 2e-6


@pytest.fixture(scope="module")
def fleet(cluster, api):
    """Three API processes sharing one PostgreSQL and one Redis."""
    extra = [cluster.start_api(), cluster.start_api()]
    yield [api, *extra]
    for process in extra:
        process.stop()


async def _fire(urls: list[str], key: str, model: str, n: int, **body) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(
            client.post(f"{urls[i % len(urls)]}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                        json={"model": model, "messages": MESSAGES, **body})
            for i in range(n)
        ))


def _wait_for_a_fresh_minute() -> None:
    # Per-minute windows: do not let a test straddle a minute boundary.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def test_a_budget_for_five_calls_never_overshoots_under_forty_concurrent_requests(fleet, admin, fake, db):
    # Sequentially exactly five calls fit: four settled calls plus one worst-case reservation.
    reservation = Decimal("0.000039")  # (11 tiktoken tokens × 1.25 + 16 = 29) × 1e-6 + 5 × 2e-6
    budget = CALL_COST * 4 + reservation
    tenant = make_tenant(admin, fake, max_budget=float(budget))

    responses = await _fire([p.url for p in fleet], tenant.key, tenant.model, 40, max_tokens=5)

    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert 1 <= len(admitted) <= 5
    assert all(r.status_code == 400 and r.json()["error"]["type"] == "budget_exceeded" for r in refused)
    assert all(r.json()["error"]["param"] == "key" for r in refused)

    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(tenant.account_id), expected=len(admitted))
    assert len(rows) == len(admitted), "refused requests never reached an upstream"
    recorded = sum(row["cost"] for row in rows)
    assert recorded == CALL_COST * len(admitted) <= budget
    spend = await db.fetchval("SELECT spend FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id))
    assert spend == recorded

    # Sequentially, the budget admits exactly up to five calls in total.
    more = 0
    while more < 10:
        [response] = await _fire([fleet[0].url], tenant.key, tenant.model, 1, max_tokens=5)
        if response.status_code != 200:
            break
        more += 1
    assert len(admitted) + more == 5


async def test_an_rpm_limit_holds_across_three_processes(fleet, admin, fake):
    _wait_for_a_fresh_minute()
    tenant = make_tenant(admin, fake, rpm_limit=10)

    responses = await _fire([p.url for p in fleet], tenant.key, tenant.model, 30)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 20
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "10"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"


async def test_parallel_slots_are_shared_by_the_fleet(fleet, admin, fake):
    tenant = make_tenant(admin, fake, max_parallel_requests=2)
    admin.add_model(tenant.account_id, "slow", fake.base_url, upstream="openai/slow-300", api_key=CANARY_PROVIDER_KEY)

    responses = await _fire([p.url for p in fleet], tenant.key, "slow", 6, stream=True)

    assert sorted(r.status_code for r in responses) == [200, 200, 429, 429, 429, 429]


@pytest.fixture(scope="module")
def cut_off(cluster, tmp_path_factory):
    """Two API processes whose limits Redis is unreachable: one refusing (default), one failing open."""
    dead = tmp_path_factory.mktemp("dead") / "redis.sock"
    closed = cluster.start_api(extra_env={"ALCHEMI_LIMITS_REDIS_URL": f"unix://{dead}"})
    open_ = cluster.start_api(extra_env={"ALCHEMI_LIMITS_REDIS_URL": f"unix://{dead}",
                                         "ALCHEMI_LIMITS_FAIL_OPEN": "true"})
    yield closed, open_
    closed.stop()
    open_.stop()


class TestRedisOutage:
    """Limits live in Redis. When it cannot be reached, a request that has limits is refused fast
    (503, `limits_unavailable`) rather than hanging or being admitted without them; requests
    without limits are unaffected. ALCHEMI_LIMITS_FAIL_OPEN=true admits them instead, counted
    in alchemi_limits_redis_failures_total."""

    def test_limited_requests_fail_fast_and_unlimited_ones_pass(self, cut_off, admin, fake):
        closed, _ = cut_off
        limited = make_tenant(admin, fake, rpm_limit=100)
        unlimited = make_tenant(admin, fake)

        started = time.monotonic()
        response = httpx.post(f"{closed.url}/v1/chat/completions", headers={"authorization": f"Bearer {limited.key}"},
                              json={"model": limited.model, "messages": MESSAGES}, timeout=10)
        assert time.monotonic() - started < 2
        assert response.status_code == 503 and response.json()["error"]["code"] == "limits_unavailable"
        assert "retry-after" in response.headers

        ok = httpx.post(f"{closed.url}/v1/chat/completions", headers={"authorization": f"Bearer {unlimited.key}"},
                        json={"model": unlimited.model, "messages": MESSAGES}, timeout=10)
        assert ok.status_code == 200
        metrics = httpx.get(f"{closed.url}/metrics").text
        assert 'alchemi_limits_redis_failures_total{operation="admit",outcome="refused"}' in metrics

    def test_fail_open_admits_and_counts(self, cut_off, admin, fake):
        _, open_ = cut_off
        limited = make_tenant(admin, fake, rpm_limit=100)
        response = httpx.post(f"{open_.url}/v1/chat/completions", headers={"authorization": f"Bearer {limited.key}"},
                              json={"model": limited.model, "messages": MESSAGES}, timeout=10)
        assert response.status_code == 200
        metrics = httpx.get(f"{open_.url}/metrics").text
        assert 'alchemi_limits_redis_failures_total{operation="admit",outcome="allowed"}' in metrics
