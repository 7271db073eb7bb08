"""Routing within an account: retries, fallbacks, context-window fallbacks, cooldowns, strategies."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "route me somewhere good"}]


@pytest.fixture
def account(admin) -> str:
    return admin.create_account(f"routing-{uuid.uuid4().hex[:6]}")


def _deploy(admin, account_id: str, name: str, base_url: str, upstream: str = "openai/fake-model", **params) -> str:
    body = {"model_name": name, "litellm_params": {"model": upstream, "api_base": base_url,
                                                   "api_key": CANARY_PROVIDER_KEY, **params},
            "model_info": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}}
    return admin.ok("POST", "/model/new", account_id, json=body)["model_id"]


def _settings(admin, account_id: str, **settings) -> dict:
    return admin.ok("POST", "/router/settings", account_id, json=settings)


async def _chat_many(api, key: str, model: str, n: int, concurrency: int = 8, **body) -> list[httpx.Response]:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:
        async def one() -> httpx.Response:
            async with semaphore:
                return await client.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                         json={"model": model, "messages": MESSAGES, **body})
        return await asyncio.gather(*(one() for _ in range(n)))


def _served_by(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"].rsplit(" from ", 1)[1]


async def test_a_failing_deployment_is_retried_elsewhere_and_cooled_down(api, admin, fake, fake_b, account, db):
    _settings(admin, account, allowed_fails=2, cooldown_time=60)
    _deploy(admin, account, "pair", fake.base_url)
    broken = _deploy(admin, account, "pair", fake_b.base_url, upstream="openai/error-500")
    key = admin.generate_key(account)["key"]
    failing_before = sum(1 for r in fake_b.requests if r.body and r.body.get("model") == "error-500")

    responses = await _chat_many(api, key, "pair", 60)

    assert [r.status_code for r in responses] == [200] * 60, "no client ever sees the failing deployment"
    assert {_served_by(r) for r in responses} == {"upstream-a"}
    hits = sum(1 for r in fake_b.requests if r.body and r.body.get("model") == "error-500") - failing_before
    assert 2 <= hits <= 2 + 8, "after allowed_fails the broken deployment is left alone (in-flight ones may still land)"
    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=60)
    assert len(rows) == 60 and {row["status"] for row in rows} == {"success"}, "one row per logical request"
    assert str(broken) not in {str(row["deployment_id"]) for row in rows}
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'alchemi_deployment_cooldowns_total{model_group="pair"}' in metrics


async def test_fallbacks_to_another_model_group(api, admin, fake, account):
    _deploy(admin, account, "primary", fake.base_url, upstream="openai/error-500")
    _deploy(admin, account, "backup", fake.base_url)
    _settings(admin, account, num_retries=1, fallbacks=[{"primary": ["backup"]}], allowed_fails=100)
    key = admin.generate_key(account)["key"]

    [response] = await _chat_many(api, key, "primary", 1)

    assert response.status_code == 200
    assert response.json()["model"] == "fake-model"


async def test_without_fallbacks_the_upstream_error_reaches_the_client_after_retries(api, admin, fake, account):
    _deploy(admin, account, "lonely", fake.base_url, upstream="openai/error-500")
    _settings(admin, account, num_retries=2, retry_after=0.01, allowed_fails=100)
    key = admin.generate_key(account)["key"]
    before = len(fake.requests)

    [response] = await _chat_many(api, key, "lonely", 1)

    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"
    assert len(fake.requests) - before == 3, "the first try and two retries"


async def test_a_prompt_too_long_falls_back_to_a_bigger_context_window(api, admin, fake, account):
    _deploy(admin, account, "small", fake.base_url, upstream="openai/small-context-5")
    _deploy(admin, account, "big", fake.base_url)
    _settings(admin, account, context_window_fallbacks=[{"small": ["big"]}])
    key = admin.generate_key(account)["key"]
    before = len(fake.requests)

    [response] = await _chat_many(api, key, "small", 1)

    assert response.status_code == 200
    assert [r.body["model"] for r in fake.requests[before:]] == ["small-context-5", "fake-model"], "no pointless retry"


async def test_a_prompt_too_long_without_fallback_is_the_callers_400(api, admin, fake, account):
    _deploy(admin, account, "small", fake.base_url, upstream="openai/small-context-5")
    key = admin.generate_key(account)["key"]
    [response] = await _chat_many(api, key, "small", 1)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_simple_shuffle_follows_weights(api, admin, fake, fake_b, account):
    _deploy(admin, account, "weighted", fake.base_url, weight=3)
    _deploy(admin, account, "weighted", fake_b.base_url, weight=1)
    key = admin.generate_key(account)["key"]

    served = Counter(_served_by(r) for r in await _chat_many(api, key, "weighted", 200))

    assert served["upstream-a"] + served["upstream-b"] == 200
    assert 110 <= served["upstream-a"] <= 185, served


async def test_latency_based_routing_prefers_the_faster_deployment(api, admin, fake, fake_b, account):
    _deploy(admin, account, "timed", fake.base_url)
    _deploy(admin, account, "timed", fake_b.base_url, upstream="openai/slow-40")
    _settings(admin, account, model_group_routing_strategy={"timed": "latency-based-routing"})
    key = admin.generate_key(account)["key"]

    responses = await _chat_many(api, key, "timed", 40, concurrency=1)

    later = Counter(_served_by(r) for r in responses[10:])
    assert later["upstream-a"] >= 28, later


async def test_usage_based_routing_spreads_by_headroom(api, admin, fake, fake_b, account):
    _deploy(admin, account, "budgeted", fake.base_url, rpm=1000)
    _deploy(admin, account, "budgeted", fake_b.base_url, rpm=10)
    _settings(admin, account, routing_strategy="usage-based-routing")
    key = admin.generate_key(account)["key"]

    served = Counter(_served_by(r) for r in await _chat_many(api, key, "budgeted", 40, concurrency=1))

    assert served["upstream-b"] <= 10 and served["upstream-a"] >= 30, served


def test_router_settings_are_validated_and_scoped(admin, account):
    response = admin.call("POST", "/router/settings", account, json={"routing_strategy": "fastest-please"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "routing_strategy"
    response = admin.call("POST", "/router/settings", account, json={"num_retries": -1})
    assert response.status_code == 400
    saved = _settings(admin, account, routing_strategy="least-busy", fallbacks=[{"a": ["b"]}])
    assert saved["routing_strategy"] == "least-busy"
    assert admin.ok("GET", "/router/settings", account)["fallbacks"] == [{"a": ["b"]}]
    other = admin.create_account(f"other-{uuid.uuid4().hex[:6]}")
    assert admin.ok("GET", "/router/settings", other).get("routing_strategy", "simple-shuffle") == "simple-shuffle"
