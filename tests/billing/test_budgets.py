"""Budgets as a tenant meets them: a budget on any level refuses the call that no longer fits, periods
start over, the account's price book sets what is charged, and the management API shows it all."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import openai
import pytest
import redis.asyncio

from app.billing import plan, pricing
from tasks.budgets import reset_budget_periods
from tests.conftest import CANARY_PROVIDER_KEY, make_tenant
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "hi"}]
PRICES = pricing.PriceSheet(Decimal("0.000001"), Decimal("0.000002"))  # make_tenant's deployment prices
# What admission holds back for one call: the tokenizer's prompt count × 1.25 + 16 input tokens and
# all of max_tokens, at the deployment's prices.
RESERVATION = plan.reservation(PRICES, {"messages": MESSAGES, "max_tokens": 5}, "chat", None, Decimal(0))
# What one call really costs: the fake counts "hi" as 1 + 3 prompt tokens and answers with 5 tokens.
CALL_COST = pricing.cost(PRICES, pricing.TokenCounts(prompt=4, completion=5))


def budget_for(calls: int) -> float:
    """A max_budget that admits exactly `calls` sequential calls: after calls - 1 of them one more
    reservation still fits, after `calls` of them it does not."""
    return float(CALL_COST * (calls - 1) + RESERVATION + CALL_COST / 2)


def _client(api, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0, timeout=10)


def _chat(client: openai.OpenAI, model: str):
    return client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=5)


def _refusal(client: openai.OpenAI, model: str) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as refused:
        _chat(client, model)
    return refused.value


def _user(admin, account_id: str, **fields) -> dict:
    return admin.ok("POST", "/user/new", account_id, json={"user_email": f"u-{uuid.uuid4().hex[:10]}@example.com",
                                                           **fields})


def _key_on_key(admin, fake, budget: float):
    tenant = make_tenant(admin, fake, max_budget=budget)
    return tenant, tenant.key


def _key_on_user(admin, fake, budget: float):
    tenant = make_tenant(admin, fake)
    user = _user(admin, tenant.account_id, max_budget=budget)
    return tenant, admin.generate_key(tenant.account_id, user_id=user["user_id"])["key"]


def _key_on_team(admin, fake, budget: float):
    tenant = make_tenant(admin, fake)
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t", "max_budget": budget})
    return tenant, admin.generate_key(tenant.account_id, team_id=team["team_id"])["key"]


def _key_on_organization(admin, fake, budget: float):
    tenant = make_tenant(admin, fake)
    org = admin.ok("POST", "/organization/new", tenant.account_id,
                   json={"organization_alias": "o", "max_budget": budget})
    team = admin.ok("POST", "/team/new", tenant.account_id,
                    json={"team_alias": "t", "organization_id": org["organization_id"]})
    return tenant, admin.generate_key(tenant.account_id, team_id=team["team_id"])["key"]


def _key_on_account(admin, fake, budget: float):
    tenant = make_tenant(admin, fake)
    admin.ok("PATCH", f"/accounts/{tenant.account_id}", json={"max_budget": budget})
    return tenant, tenant.key


@pytest.mark.parametrize("level, setup", [
    ("key", _key_on_key), ("user", _key_on_user), ("team", _key_on_team),
    ("organization", _key_on_organization), ("account", _key_on_account),
])
async def test_a_budget_on_each_level_refuses_the_call_that_no_longer_fits(api, admin, fake, db, level, setup):
    tenant, key = setup(admin, fake, budget_for(2))
    client = _client(api, key)

    for _ in range(2):
        assert _chat(client, tenant.model).choices[0].message.content
    refused = _refusal(client, tenant.model)

    assert refused.status_code == 400  # never 401: the key is fine, its money is not
    assert refused.body["type"] == "budget_exceeded"
    assert (refused.body["param"], refused.body["code"]) == (level, f"{level}_budget_exceeded")
    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(tenant.account_id), expected=2)
    assert len(rows) == 2, "a refused call reaches no upstream and costs nothing"
    assert sum(row["cost"] for row in rows) == CALL_COST * 2


def _sleep_into_next_period(seconds: int) -> None:
    """Periods are aligned to the Unix epoch: wait for the next one to begin."""
    time.sleep(seconds - time.time() % seconds + 0.05)


async def test_a_budget_period_ends_and_the_next_one_admits_again(api, admin, fake, db, services):
    tenant = make_tenant(admin, fake, max_budget=budget_for(1), budget_duration="2s")
    client = _client(api, tenant.key)

    _sleep_into_next_period(2)
    _chat(client, tenant.model)
    refused = _refusal(client, tenant.model)
    assert (refused.status_code, refused.body["param"]) == (400, "key")
    info = admin.ok("GET", "/key/info", tenant.account_id, params={"key": tenant.key_id})["info"]
    shown = datetime.fromisoformat(info["budget_reset_at"])
    assert datetime.now(timezone.utc) < shown <= datetime.now(timezone.utc) + timedelta(seconds=2)

    _sleep_into_next_period(2)
    _chat(client, tenant.model)

    rows = await wait_for_rows(db, "key_id = $1", uuid.UUID(tenant.key_id), expected=2)
    periods = [json.loads(row["budget_periods"])["key"] for row in rows]
    assert len(periods) == 2 and periods[1] == periods[0] + 2  # charged to two consecutive periods


async def test_the_cron_job_moves_budget_reset_at_on(api, admin, fake, db, services):
    tenant = make_tenant(admin, fake, max_budget=1, budget_duration="1s")
    client = redis.asyncio.from_url(services.redis_url)
    stored = "SELECT budget_reset_at FROM virtual_keys WHERE id = $1"
    try:
        assert await db.fetchval(stored, uuid.UUID(tenant.key_id)) is None  # aligned to the epoch until then
        await reset_budget_periods({"db": db, "redis": client})
        first = await db.fetchval(stored, uuid.UUID(tenant.key_id))
        assert first > datetime.now(timezone.utc) - timedelta(seconds=1)
        time.sleep(max((first - datetime.now(timezone.utc)).total_seconds(), 0) + 0.05)
        await reset_budget_periods({"db": db, "redis": client})
        assert await db.fetchval(stored, uuid.UUID(tenant.key_id)) > first
    finally:
        await client.aclose()
    # Admission follows the stored moment from now on: the key still works.
    assert _chat(_client(api, tenant.key), tenant.model).choices


async def test_changing_a_budget_duration_starts_its_periods_from_the_epoch(admin, fake, db, services):
    tenant = make_tenant(admin, fake, max_budget=1, budget_duration="1d")
    client = redis.asyncio.from_url(services.redis_url)
    try:
        await reset_budget_periods({"db": db, "redis": client})
    finally:
        await client.aclose()
    stored = "SELECT budget_reset_at FROM virtual_keys WHERE id = $1"
    assert await db.fetchval(stored, uuid.UUID(tenant.key_id)) is not None

    # Re-sending the same duration (a script run twice) keeps the period running.
    admin.ok("POST", "/key/update", tenant.account_id, json={"key": tenant.key_id, "budget_duration": "1d"})
    assert await db.fetchval(stored, uuid.UUID(tenant.key_id)) is not None
    info = admin.ok("POST", "/key/update", tenant.account_id, json={"key": tenant.key_id, "budget_duration": "1h"})
    assert await db.fetchval(stored, uuid.UUID(tenant.key_id)) is None
    next_hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert datetime.fromisoformat(info["budget_reset_at"]) == next_hour


async def test_the_accounts_price_book_marks_up_what_tenants_are_charged(api, admin, fake, db):
    account_id = admin.create_account(f"acct-{uuid.uuid4().hex[:8]}", price_markup_percent=20)
    admin.add_model(account_id, "gpt-4o-mini", fake.base_url, api_key=CANARY_PROVIDER_KEY,
                    input_cost_per_token=0.000001, output_cost_per_token=0.000002)
    key = admin.generate_key(account_id)
    client = _client(api, key["key"])
    for _ in range(2):
        _chat(client, "gpt-4o-mini")

    rows = await wait_for_rows(db, "key_id = $1", uuid.UUID(key["token"]), expected=2)
    assert [row["provider_cost"] for row in rows] == [CALL_COST, CALL_COST]
    assert [row["cost"] for row in rows] == [CALL_COST * Decimal("1.2")] * 2
    info = admin.ok("GET", "/key/info", account_id, params={"key": key["token"]})["info"]
    assert Decimal(str(info["spend"])) == CALL_COST * Decimal("2.4")
    account = admin.ok("GET", f"/accounts/{account_id}")
    assert account["price_markup_percent"] == 20
    assert Decimal(str(account["spend"])) == CALL_COST * Decimal("2.4")


LIMITS = {"max_budget": 12.5, "budget_duration": "1d", "rpm_limit": 60, "tpm_limit": 10000,
          "max_parallel_requests": 4}


def _shows_limits(answer: dict, limits: dict) -> None:
    assert {name: answer[name] for name in limits} == limits
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if limits.get("budget_duration") == "1d":
        assert datetime.fromisoformat(answer["budget_reset_at"]) == tomorrow  # `1d` = UTC days
    elif "budget_duration" in limits and limits["budget_duration"] is None:
        assert answer["budget_reset_at"] is None


def test_every_level_takes_and_shows_its_limits(admin, fake):
    tenant = make_tenant(admin, fake)
    account = tenant.account_id
    created = admin.ok("POST", "/accounts", json={"name": "limited", **LIMITS, "price_markup_percent": -12.5})
    _shows_limits(created, LIMITS)
    assert created["price_markup_percent"] == -12.5
    patched = admin.ok("PATCH", f"/accounts/{account}", json={"rpm_limit": 7, "price_markup_percent": 1000})
    assert (patched["rpm_limit"], patched["max_budget"], patched["price_markup_percent"]) == (7, None, 1000)
    assert admin.ok("GET", f"/accounts/{account}")["rpm_limit"] == 7

    org = admin.ok("POST", "/organization/new", account, json={"organization_alias": "o", **LIMITS})
    _shows_limits(org, LIMITS)
    org = admin.ok("POST", "/organization/update", account,
                   json={"organization_id": org["organization_id"], "tpm_limit": 5, "budget_duration": None})
    _shows_limits(org, {"tpm_limit": 5, "budget_duration": None, "max_parallel_requests": 4})
    _shows_limits(admin.ok("GET", "/organization/info", account, params={"organization_id": org["organization_id"]}),
                  {"tpm_limit": 5, "rpm_limit": 60})

    team = admin.ok("POST", "/team/new", account, json={"team_alias": "t", **LIMITS})
    _shows_limits(team, LIMITS)
    team = admin.ok("POST", "/team/update", account, json={"team_id": team["team_id"], "max_parallel_requests": 1})
    _shows_limits(team, {**LIMITS, "max_parallel_requests": 1})

    user = admin.ok("POST", "/user/new", account, json={"user_email": f"{uuid.uuid4().hex[:8]}@example.com", **LIMITS})
    _shows_limits(user, LIMITS)
    user = admin.ok("POST", "/user/update", account, json={"user_id": user["user_id"], "rpm_limit": None})
    _shows_limits(user, {**LIMITS, "rpm_limit": None})
    _shows_limits(admin.ok("GET", "/user/info", account, params={"user_id": user["user_id"]})["user_info"],
                  {**LIMITS, "rpm_limit": None})

    key = admin.generate_key(account, **LIMITS)
    _shows_limits(key, LIMITS)
    _shows_limits(admin.ok("GET", "/key/info", account, params={"key": key["token"]})["info"], LIMITS)


@pytest.mark.parametrize("field, value", [
    ("max_budget", -1), ("max_budget", 1e13), ("max_budget", "nan"), ("budget_duration", "often"), ("budget_duration", "0d"),
    ("budget_duration", "999999999w"), ("rpm_limit", -1), ("tpm_limit", 2**40), ("max_parallel_requests", -5),
])
def test_bad_limits_are_refused_with_the_field_named(admin, fake, field, value):
    tenant = make_tenant(admin, fake)
    account = tenant.account_id
    team = admin.ok("POST", "/team/new", account, json={"team_alias": "t"})
    org = admin.ok("POST", "/organization/new", account, json={"organization_alias": "o"})
    user = _user(admin, account)
    attempts = [
        admin.call("POST", "/accounts", json={"name": "x", field: value}),
        admin.call("PATCH", f"/accounts/{account}", json={field: value}),
        admin.call("POST", "/organization/new", account, json={"organization_alias": "o", field: value}),
        admin.call("POST", "/organization/update", account, json={"organization_id": org["organization_id"],
                                                                  field: value}),
        admin.call("POST", "/team/new", account, json={"team_alias": "t", field: value}),
        admin.call("POST", "/team/update", account, json={"team_id": team["team_id"], field: value}),
        admin.call("POST", "/user/new", account, json={"user_email": "x@example.com", field: value}),
        admin.call("POST", "/user/update", account, json={"user_id": user["user_id"], field: value}),
        admin.call("POST", "/key/generate", account, json={field: value}),
        admin.call("POST", "/key/update", account, json={"key": tenant.key_id, field: value}),
    ]
    for response in attempts:
        assert response.status_code == 400, response.request.url
        assert response.json()["error"]["param"] == field, response.text


@pytest.mark.parametrize("value", [-100, -150, 1000.5, "nan"])
def test_a_markup_outside_the_price_book_range_is_refused(admin, value):
    response = admin.call("POST", "/accounts", json={"name": "x", "price_markup_percent": value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "price_markup_percent"
