"""The roll-ups the workers keep as they write the ledger are exactly the ones the ledger alone gives:
`alchemi rebuild-rollups` on real traffic changes nothing, and repairs roll-ups that drifted."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import openai
import pytest

from app.billing.rollups import rebuild_rollups
from tests.conftest import CANARY_PROVIDER_KEY, make_tenant
from tests.support.ledger import wait_for_rows
from tests.support.processes import ROOT

MESSAGES = [{"role": "user", "content": "count my tokens please"}]

_DAILY = """SELECT day, organization_id, team_id, user_id, key_id, model_group, requests, prompt_tokens,
    completion_tokens, cost FROM spend_daily WHERE account_id = $1 ORDER BY 1, 2, 3, 4, 5, 6"""
_PERIODS = """SELECT level, entity_id, period_end, spend FROM budget_usage WHERE account_id = $1
    ORDER BY 1, 2, 3"""


async def _snapshot(db, account_id: uuid.UUID) -> tuple[list[tuple], list[tuple]]:
    return ([tuple(row) for row in await db.fetch(_DAILY, account_id)],
            [tuple(row) for row in await db.fetch(_PERIODS, account_id)])


async def _traffic(client: openai.AsyncOpenAI, model: str) -> int:
    """Every kind of request a key can make (chat, streams, embeddings, an upstream failure); returns how many."""
    await client.chat.completions.create(model=model, messages=MESSAGES)
    async for _ in await client.chat.completions.create(model=model, messages=MESSAGES, stream=True):
        pass
    stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    async for _ in stream:
        pass
    await client.embeddings.create(model="embedder", input="count these words")
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="broken", messages=MESSAGES)
    return 5


@pytest.fixture
def budgeted(admin, fake):
    """An account with a budget on every level (periods of a month, a week, a day, and lifetime ones),
    a plain key and a key of a user in a team of an organization, and three model groups."""
    tenant = make_tenant(admin, fake, max_budget=100, budget_duration="1d")
    account = tenant.account_id
    admin.ok("PATCH", f"/accounts/{account}", json={"max_budget": 1000, "budget_duration": "1mo",
                                                     "price_markup_percent": 25})
    admin.add_model(account, "embedder", fake.base_url, upstream="openai/text-embedding-3-small",
                    api_key=CANARY_PROVIDER_KEY, input_cost_per_token=0.0000001)
    admin.add_model(account, "broken", fake.base_url, upstream="openai/error-500", api_key=CANARY_PROVIDER_KEY)
    organization = admin.ok("POST", "/organization/new", account, json={"organization_alias": "o", "max_budget": 500})
    team = admin.ok("POST", "/team/new", account, json={
        "team_alias": "t", "organization_id": organization["organization_id"], "max_budget": 200,
        "budget_duration": "1w"})
    user = admin.ok("POST", "/user/new", account, json={"user_email": f"{uuid.uuid4().hex[:8]}@example.com",
                                                        "teams": [team["team_id"]], "max_budget": 50})
    member_key = admin.generate_key(account, user_id=user["user_id"], team_id=team["team_id"])
    return tenant, member_key["key"]


async def test_rebuilding_from_the_ledger_gives_the_roll_ups_the_workers_kept(api, cluster, db, budgeted):
    tenant, member_key = budgeted
    account_id = uuid.UUID(tenant.account_id)
    clients = [openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)
               for key in (tenant.key, member_key)]
    sent = sum(await asyncio.gather(*(_traffic(client, tenant.model) for client in clients for _ in range(3))))
    assert len(await wait_for_rows(db, "account_id = $1", account_id, expected=sent)) == sent

    daily, periods = await _snapshot(db, account_id)
    assert sum(row[6] for row in daily) == sent  # every request in exactly one daily bucket
    assert {row[5] for row in daily} == {tenant.model, "embedder", "broken"}
    assert {row[0] for row in periods} == {"key", "user", "team", "organization", "account"}
    assert any(row[2].year == 1970 for row in periods)  # lifetime budgets are period 0

    result = subprocess.run([sys.executable, "-m", "app.cli", "rebuild-rollups"], cwd=ROOT, env=cluster.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "spend_daily:" in result.stdout and "budget_usage:" in result.stdout

    assert await _snapshot(db, account_id) == (daily, periods)


async def test_rebuild_repairs_drifted_roll_ups_and_says_so_and_a_second_run_changes_nothing(api, db, tenant):
    client = openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)
    await client.chat.completions.create(model=tenant.model, messages=MESSAGES)
    account_id = uuid.UUID(tenant.account_id)
    await wait_for_rows(db, "account_id = $1", account_id, expected=1)
    async with db.acquire() as conn:
        await rebuild_rollups(conn)  # whatever the rest of the suite left, from here on it is exact
    before = await _snapshot(db, account_id)

    await db.execute("UPDATE spend_daily SET cost = cost + 1, requests = requests + 1 WHERE account_id = $1",
                     account_id)
    await db.execute("INSERT INTO budget_usage (account_id, level, entity_id, period_end, spend) "
                     "VALUES ($1, 'key', $2, now(), 5)", account_id, uuid.UUID(tenant.key_id))
    async with db.acquire() as conn:
        repaired = await rebuild_rollups(conn)
        again = await rebuild_rollups(conn)

    assert await _snapshot(db, account_id) == before
    assert (repaired["spend_daily_differed"], repaired["budget_usage_differed"]) == (1, 1)
    assert (again["spend_daily_differed"], again["budget_usage_differed"]) == (0, 0)
    assert again["spend_daily_rows"] == repaired["spend_daily_rows"] >= 1
    assert again["ledger_rows"] >= 1
