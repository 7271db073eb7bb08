"""/spend/logs: ledger rows of real requests, as the worker records them."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import openai
import pytest

from tests.conftest import make_tenant

PROMPT = "tell me three things"  # the fake upstream counts 4 words + 3 per message = 7 prompt tokens
PROMPT_TOKENS, COMPLETION_TOKENS = 7, 5  # and answers with 5 chunks of text


def _chat(api, key: str, model: str) -> str:
    """One chat through the official SDK; returns the gateway's request id."""
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    raw.parse()
    return raw.headers["x-request-id"]


def _logs(admin, account_id: str, expected: int, **params) -> list[dict]:
    """The worker writes the ledger shortly after the request: poll until the rows are there."""
    deadline = time.monotonic() + 10
    while True:
        rows = admin.ok("GET", "/spend/logs", account_id, params=params)
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_logs_of_real_requests_newest_first_with_exact_tokens_and_spend(api, admin, tenant):
    first = _chat(api, tenant.key, tenant.model)
    second = _chat(api, tenant.key, tenant.model)
    rows = _logs(admin, tenant.account_id, 2, api_key=tenant.key)
    assert [row["request_id"] for row in rows] == [second, first]
    row = rows[0]
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, PROMPT_TOKENS + COMPLETION_TOKENS)
    assert row["spend"] == pytest.approx(PROMPT_TOKENS * 0.000001 + COMPLETION_TOKENS * 0.000002, rel=1e-9)
    assert (row["call_type"], row["model"], row["model_group"], row["status"]) == (
        "chat", tenant.model, tenant.model, "success")
    assert (row["api_key"], row["account_id"], row["deployment_id"]) == (
        tenant.key_id, tenant.account_id, tenant.model_id)
    assert (row["user"], row["team_id"], row["provider"]) == (None, None, "openai")
    started, ended = datetime.fromisoformat(row["startTime"]), datetime.fromisoformat(row["endTime"])
    assert started <= ended and abs(datetime.now(timezone.utc) - started) < timedelta(minutes=1)
    assert row["latency_ms"] >= 0

    # The key's id names the same rows as the key itself; pages and request ids narrow them.
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"api_key": tenant.key_id}) == rows
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"page_size": 1, "page": 2}) == [rows[1]]
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"request_id": first}) == [rows[1]]
    # /key/info carries the same spend.
    info = admin.ok("GET", "/key/info", tenant.account_id, params={"key": tenant.key_id})["info"]
    assert info["spend"] == pytest.approx(2 * row["spend"], rel=1e-9)


def test_logs_filter_by_user_team_and_dates(api, admin, tenant):
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t"})
    user = admin.ok("POST", "/user/new", tenant.account_id,
                    json={"user_email": f"{uuid.uuid4().hex[:8]}@example.com", "teams": [team["team_id"]]})
    member_key = admin.generate_key(tenant.account_id, user_id=user["user_id"], team_id=team["team_id"])
    mine = _chat(api, member_key["key"], tenant.model)
    _chat(api, tenant.key, tenant.model)
    assert len(_logs(admin, tenant.account_id, 2)) == 2

    for params in ({"user_id": user["user_id"]}, {"team_id": team["team_id"]}):
        rows = admin.ok("GET", "/spend/logs", tenant.account_id, params=params)
        assert [(r["request_id"], r["user"], r["team_id"], r["api_key"]) for r in rows] == [
            (mine, user["user_id"], team["team_id"], member_key["token"])], params
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"user_id": str(uuid.uuid4())}) == []

    today = datetime.now(timezone.utc).date()
    whole_day = admin.ok("GET", "/spend/logs", tenant.account_id,
                         params={"start_date": today.isoformat(), "end_date": today.isoformat()})
    assert len(whole_day) == 2  # a date as end_date covers that whole day
    assert admin.ok("GET", "/spend/logs", tenant.account_id,
                    params={"end_date": (today - timedelta(days=1)).isoformat()}) == []
    an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert len(admin.ok("GET", "/spend/logs", tenant.account_id, params={"start_date": an_hour_ago})) == 2
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"end_date": an_hour_ago}) == []


def test_bad_filters_are_refused_and_other_accounts_stay_invisible(api, admin, tenant, fake):
    for params, param in (({"start_date": "yesterday"}, "start_date"), ({"end_date": "2024-13-01"}, "end_date"),
                          ({"start_date": "2024-02-02", "end_date": "2024-02-01"}, "start_date"),
                          ({"user_id": "bob"}, "user_id"), ({"page_size": 1001}, "page_size")):
        response = admin.call("GET", "/spend/logs", tenant.account_id, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param, params

    other = make_tenant(admin, fake)
    _chat(api, other.key, other.model)
    assert len(_logs(admin, other.account_id, 1)) == 1
    assert admin.ok("GET", "/spend/logs", tenant.account_id, params={"api_key": other.key_id}) == []
    foreign_key = admin.call("GET", "/spend/logs", tenant.account_id, params={"api_key": other.key})
    assert foreign_key.status_code == 404
    assert admin.ok("GET", "/spend/logs", tenant.account_id) == []
