"""/global/spend/report and /spend/summary on real traffic: the numbers are the ledger's to the last
digit, grouped as asked, never another account's, and a plain key sees only itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY, Tenant, make_tenant
from tests.support.ledger import wait_for_rows

MESSAGES = [{"role": "user", "content": "tell me three things"}]
KINDS = {"model": "model_group", "key": "key_id", "team": "team_id", "user": "user_id",
         "organization": "organization_id"}
GROUP_FIELDS = {"model": "model", "key": "key_id", "team": "team_id", "user": "user_id",
                "organization": "organization_id"}


@dataclass
class Traffic:
    tenant: Tenant
    member_key: dict  # a key of a user in a team of an organization
    team_id: str
    user_id: str
    organization_id: str
    other: Tenant  # another account, with traffic of its own


def _chat(api, key: str, model: str, times: int) -> None:
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)
    for _ in range(times):
        client.chat.completions.create(model=model, messages=MESSAGES)


@pytest.fixture
async def traffic(api, admin, fake, db) -> Traffic:
    tenant = make_tenant(admin, fake, max_budget=100, budget_duration="1d")
    account = tenant.account_id
    admin.ok("PATCH", f"/accounts/{account}", json={"max_budget": 1000, "budget_duration": "1mo"})
    admin.add_model(account, "other-model", fake.base_url, api_key=CANARY_PROVIDER_KEY,
                    input_cost_per_token=0.000003, output_cost_per_token=0.000007)
    organization = admin.ok("POST", "/organization/new", account, json={"organization_alias": "o"})
    team = admin.ok("POST", "/team/new", account, json={"team_alias": "t",
                                                       "organization_id": organization["organization_id"]})
    user = admin.ok("POST", "/user/new", account, json={"user_email": f"{uuid.uuid4().hex[:8]}@example.com",
                                                        "teams": [team["team_id"]]})
    member_key = admin.generate_key(account, user_id=user["user_id"], team_id=team["team_id"])
    other = make_tenant(admin, fake)

    _chat(api, tenant.key, tenant.model, 2)
    _chat(api, tenant.key, "other-model", 1)
    _chat(api, member_key["key"], tenant.model, 1)
    _chat(api, member_key["key"], "other-model", 3)
    _chat(api, other.key, other.model, 2)
    await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=7)
    await wait_for_rows(db, "account_id = $1", uuid.UUID(other.account_id), expected=2)
    return Traffic(tenant, member_key, team["team_id"], user["user_id"], organization["organization_id"], other)


async def _ledger(db, account_id: str, column: str, where: str = "TRUE", *args) -> dict:
    """(UTC day, group) → (spend, requests, prompt tokens, completion tokens), straight from the ledger."""
    rows = await db.fetch(
        f"SELECT (started_at AT TIME ZONE 'UTC')::date AS day, {column} AS value, sum(cost) AS spend, count(*) AS n, "
        f"sum(prompt_tokens) AS pt, sum(completion_tokens) AS ct FROM usage_ledger "
        f"WHERE account_id = $1 AND {where} GROUP BY 1, 2", uuid.UUID(account_id), *args)
    return {(row["day"], None if row["value"] is None else str(row["value"])):
            (row["spend"], row["n"], row["pt"], row["ct"]) for row in rows}


def _get(admin, path: str, account_id: str | None = None, key: str | None = None, **params):
    response = admin.call("GET", path, account_id, key, params=params)
    assert response.status_code == 200, response.text
    return response.json(parse_float=Decimal)  # money compared exactly, as the decimal the API wrote


async def test_report_gives_the_ledger_sums_per_day_for_every_grouping(admin, db, traffic):
    account = traffic.tenant.account_id
    expected_groups = {
        "model": {traffic.tenant.model, "other-model"}, "key": {traffic.tenant.key_id, traffic.member_key["token"]},
        "team": {None, traffic.team_id}, "user": {None, traffic.user_id},
        "organization": {None, traffic.organization_id},
    }
    for kind, column in KINDS.items():
        rows = _get(admin, "/global/spend/report", account, group_by=kind)
        field = GROUP_FIELDS[kind]
        assert all(row["group_by"] == kind and set(row) == {"date", "group_by", field, "spend", "requests",
                                                             "prompt_tokens", "completion_tokens"} for row in rows)
        reported = {(date.fromisoformat(row["date"]), row[field]):
                    (row["spend"], row["requests"], row["prompt_tokens"], row["completion_tokens"]) for row in rows}
        assert len(reported) == len(rows)
        assert reported == await _ledger(db, account, column), kind
        assert {group for _, group in reported} == expected_groups[kind]
        assert [row["date"] for row in rows] == sorted(row["date"] for row in rows)

    assert _get(admin, "/global/spend/report", account) == _get(admin, "/global/spend/report", account,
                                                                group_by="model")


async def test_report_dates_and_bad_parameters(admin, traffic):
    account = traffic.tenant.account_id
    today = datetime.now(timezone.utc).date()
    everything = _get(admin, "/global/spend/report", account, group_by="key")
    assert sum(row["requests"] for row in everything) == 7
    assert _get(admin, "/global/spend/report", account, group_by="key", start_date=today.isoformat(),
                end_date=today.isoformat()) == everything
    # A datetime inside a day takes in the whole day: the report is per day.
    assert _get(admin, "/global/spend/report", account, group_by="key",
                start_date=f"{today.isoformat()}T23:59:00Z") == everything
    assert _get(admin, "/global/spend/report", account, end_date=(today - timedelta(days=1)).isoformat()) == []
    assert _get(admin, "/global/spend/report", account, start_date=(today + timedelta(days=1)).isoformat()) == []

    for params, param in (({"group_by": "deployment"}, "group_by"), ({"start_date": "yesterday"}, "start_date"),
                          ({"start_date": "2024-02-02", "end_date": "2024-02-01"}, "start_date")):
        response = admin.call("GET", "/global/spend/report", account, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param, params


async def test_another_accounts_spend_never_appears(admin, db, traffic):
    mine, other = traffic.tenant, traffic.other
    my_keys = {mine.key_id, traffic.member_key["token"]}
    for account, keys, requests in ((mine.account_id, my_keys, 7), (other.account_id, {other.key_id}, 2)):
        rows = _get(admin, "/global/spend/report", account, group_by="key")
        assert {row["key_id"] for row in rows} == keys
        assert sum(row["requests"] for row in rows) == requests
        summary = _get(admin, "/spend/summary", account)
        assert summary["account_id"] == account
        assert sum(row["requests"] for row in summary["by_day"]) == requests

    # An account admin's key stays in its own account, whatever header it sends.
    boss = admin.ok("POST", "/user/new", mine.account_id, json={
        "user_email": f"{uuid.uuid4().hex[:8]}@example.com", "user_role": "account_admin"})
    boss_key = admin.generate_key(mine.account_id, user_id=boss["user_id"])["key"]
    headers = {"authorization": f"Bearer {boss_key}", "x-alchemi-account-id": other.account_id}
    rows = admin.http.get("/global/spend/report", params={"group_by": "key"}, headers=headers).json()
    assert {row["key_id"] for row in rows} == my_keys
    summary = admin.http.get("/spend/summary", headers=headers).json()
    assert (summary["scope"], summary["account_id"]) == ("account", mine.account_id)

    # A plain key (no user behind it) reaches no part of the account's report.
    response = admin.call("GET", "/global/spend/report", key=mine.key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_required"
    assert admin.call("GET", "/spend/summary", key="sk-not-a-key").status_code == 401
    assert admin.call("GET", "/spend/summary").json()["error"]["code"] == "account_required"


async def _period_spend(db, level: str, entity_id: str, period_end: datetime) -> Decimal:
    """The ledger's spend charged to one budget period (budget_periods: level → period end in epoch seconds)."""
    column = {"key": "key_id", "account": "account_id"}[level]
    return await db.fetchval(
        f"SELECT COALESCE(sum(cost), 0) FROM usage_ledger WHERE {column} = $1 AND (budget_periods ->> $2)::bigint = $3",
        uuid.UUID(entity_id), level, int(period_end.timestamp()))


def _by_model(ledger: dict) -> list[dict]:
    totals: dict[str, list] = {}
    for (_, model), (spend, requests, _, _) in ledger.items():
        total = totals.setdefault(model, [Decimal(0), 0])
        total[0] += spend
        total[1] += requests
    return sorted(({"model_group": m, "spend": s, "requests": n} for m, (s, n) in totals.items()),
                  key=lambda row: (-row["spend"], row["model_group"]))


def _by_day(ledger: dict) -> list[dict]:
    totals: dict[date, list] = {}
    for (day, _), (spend, requests, _, _) in ledger.items():
        total = totals.setdefault(day, [Decimal(0), 0])
        total[0] += spend
        total[1] += requests
    return [{"date": day.isoformat(), "spend": s, "requests": n} for day, (s, n) in sorted(totals.items())]


async def test_summary_of_an_admin_is_the_account(admin, db, traffic):
    account = traffic.tenant.account_id
    summary = _get(admin, "/spend/summary", account)
    ledger = await _ledger(db, account, "model_group")
    today = datetime.now(timezone.utc).date()

    assert summary["scope"] == "account" and "key_id" not in summary
    assert (summary["start_date"], summary["end_date"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert summary["total_spend"] == sum(spend for spend, *_ in ledger.values()) == summary["lifetime_spend"]
    assert summary["by_model"] == _by_model(ledger)
    assert summary["by_day"] == _by_day(ledger)
    assert (summary["max_budget"], summary["budget_duration"]) == (1000, "1mo")
    period_end = datetime.fromisoformat(summary["period_end"])
    first_of_next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert period_end == datetime.combine(first_of_next_month, datetime.min.time(), timezone.utc)
    assert summary["period_spend"] == await _period_spend(db, "account", account, period_end) == summary["total_spend"]

    empty = _get(admin, "/spend/summary", account, end_date=(today - timedelta(days=1)).isoformat())
    assert (empty["total_spend"], empty["by_model"], empty["by_day"]) == (0, [], [])
    assert empty["start_date"] == (today - timedelta(days=30)).isoformat()
    assert empty["lifetime_spend"] == summary["lifetime_spend"]


async def test_summary_of_a_plain_key_is_the_key_alone(admin, db, traffic):
    tenant, member = traffic.tenant, traffic.member_key
    for key, key_id in ((tenant.key, tenant.key_id), (member["key"], member["token"])):
        summary = _get(admin, "/spend/summary", key=key)
        ledger = await _ledger(db, tenant.account_id, "model_group", "key_id = $2", uuid.UUID(key_id))
        assert (summary["scope"], summary["account_id"], summary["key_id"]) == ("key", tenant.account_id, key_id)
        assert summary["total_spend"] == sum(spend for spend, *_ in ledger.values()) == summary["lifetime_spend"]
        assert summary["by_model"] == _by_model(ledger)
        assert summary["by_day"] == _by_day(ledger)

    # The first key has a daily budget: its period is today (UTC), and what the ledger charged to it.
    summary = _get(admin, "/spend/summary", key=tenant.key)
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    assert (summary["max_budget"], summary["budget_duration"]) == (100, "1d")
    assert datetime.fromisoformat(summary["period_end"]) == datetime.combine(tomorrow, datetime.min.time(),
                                                                              timezone.utc)
    assert summary["period_spend"] == summary["total_spend"] > 0
    assert summary["period_spend"] == await _period_spend(db, "key", tenant.key_id,
                                                          datetime.fromisoformat(summary["period_end"]))
    # The member's key has no budget of its own.
    member_summary = _get(admin, "/spend/summary", key=member["key"])
    assert (member_summary["max_budget"], member_summary["period_end"], member_summary["period_spend"]) == (
        None, None, None)
    # A key of another account sees its own spend only.
    other = _get(admin, "/spend/summary", key=traffic.other.key)
    assert (other["account_id"], other["key_id"]) == (traffic.other.account_id, traffic.other.key_id)
    assert sum(row["requests"] for row in other["by_day"]) == 2
