"""Rate limits as a client meets them: requests and tokens per minute and parallel requests, on a
key, a team, an account and a deployment, answered with 429, Retry-After and x-ratelimit-* headers."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY, make_tenant

MESSAGES = [{"role": "user", "content": "hi"}]  # the fake counts 4 prompt tokens and answers with 5


@pytest.fixture(autouse=True)
def fresh_minute():
    """Requests and tokens are counted per wall-clock minute: keep each test inside one."""
    if time.time() % 60 >= 55:
        time.sleep(60.05 - time.time() % 60)


def _client(api, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0, timeout=10)


def _chat(client: openai.OpenAI, model: str):
    """The raw answer of one call, so its headers can be read."""
    return client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, max_tokens=5)


def _limited(client: openai.OpenAI, model: str) -> openai.RateLimitError:
    with pytest.raises(openai.RateLimitError) as refused:
        _chat(client, model)
    return refused.value


def _assert_refused(refused: openai.RateLimitError, level: str, limit: str) -> None:
    assert refused.status_code == 429
    assert refused.body["type"] == "rate_limit_error"
    assert (refused.body["param"], refused.body["code"]) == (level, f"{level}_{limit}_limit")
    assert 1 <= int(refused.response.headers["retry-after"]) <= 60


def _eventually_limited(client: openai.OpenAI, model: str):
    """The first answer that counts against a limit just set (cache invalidation crosses Redis pub/sub)."""
    deadline = time.monotonic() + 3
    while True:
        raw = _chat(client, model)
        if "x-ratelimit-limit-requests" in raw.headers or time.monotonic() > deadline:
            return raw
        time.sleep(0.05)


def test_a_keys_rpm_limit_admits_that_many_calls_a_minute(api, admin, fake):
    tenant = make_tenant(admin, fake, rpm_limit=3)
    client = _client(api, tenant.key)

    remaining = []
    for _ in range(3):
        raw = _chat(client, tenant.model)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.parse().choices[0].message.content
    assert remaining == ["2", "1", "0"]

    refused = _limited(client, tenant.model)
    _assert_refused(refused, "key", "rpm")
    assert refused.response.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_teams_rpm_limit_is_shared_by_its_keys(api, admin, fake):
    tenant = make_tenant(admin, fake)
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t", "rpm_limit": 2})
    first, second = (_client(api, admin.generate_key(tenant.account_id, team_id=team["team_id"])["key"])
                     for _ in range(2))

    assert _chat(first, tenant.model).headers["x-ratelimit-remaining-requests"] == "1"
    assert _chat(second, tenant.model).headers["x-ratelimit-remaining-requests"] == "0"
    _assert_refused(_limited(first, tenant.model), "team", "rpm")
    _assert_refused(_limited(second, tenant.model), "team", "rpm")


def test_an_accounts_rpm_limit_applies_to_keys_in_use_once_it_is_set(api, admin, fake):
    tenant = make_tenant(admin, fake)
    client = _client(api, tenant.key)
    _chat(client, tenant.model)  # the key's principal is now cached without limits

    patched = admin.ok("PATCH", f"/accounts/{tenant.account_id}", json={"rpm_limit": 2})
    assert patched["rpm_limit"] == 2
    assert _eventually_limited(client, tenant.model).headers["x-ratelimit-remaining-requests"] == "1"
    other = _client(api, admin.generate_key(tenant.account_id)["key"])
    assert _chat(other, tenant.model).headers["x-ratelimit-remaining-requests"] == "0"
    _assert_refused(_limited(client, tenant.model), "account", "rpm")
    _assert_refused(_limited(other, tenant.model), "account", "rpm")


def test_a_users_and_an_organizations_limits_apply_once_set(api, admin, fake):
    tenant = make_tenant(admin, fake)
    org = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "o"})
    user = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": "limits@example.com",
                                                                  "organization_id": org["organization_id"]})
    client = _client(api, admin.generate_key(tenant.account_id, user_id=user["user_id"])["key"])
    _chat(client, tenant.model)

    admin.ok("POST", "/user/update", tenant.account_id, json={"user_id": user["user_id"], "rpm_limit": 1})
    _eventually_limited(client, tenant.model)
    _assert_refused(_limited(client, tenant.model), "user", "rpm")

    admin.ok("POST", "/user/update", tenant.account_id, json={"user_id": user["user_id"], "rpm_limit": None})
    admin.ok("POST", "/organization/update", tenant.account_id,
             json={"organization_id": org["organization_id"], "max_parallel_requests": 0})
    deadline = time.monotonic() + 3
    while True:  # until the changes arrive, the cached principal still has the user's rpm limit
        try:
            _chat(client, tenant.model)
        except openai.RateLimitError as refused:
            if refused.body["code"] != "user_rpm_limit":
                _assert_refused(refused, "organization", "parallel")
                break
        assert time.monotonic() < deadline, "the organization's new limit never applied"
        time.sleep(0.05)


def test_a_tpm_limit_refuses_once_the_minutes_tokens_reach_it(api, admin, fake):
    tenant = make_tenant(admin, fake, tpm_limit=15)
    client = _client(api, tenant.key)

    first = _chat(client, tenant.model)
    second = _chat(client, tenant.model)  # 9 of 15 tokens used: still room
    assert first.headers["x-ratelimit-limit-tokens"] == "15"
    assert first.headers["x-ratelimit-remaining-tokens"] == "15"
    assert second.headers["x-ratelimit-remaining-tokens"] == "6"

    refused = _limited(client, tenant.model)  # 18 tokens used
    _assert_refused(refused, "key", "tpm")
    assert refused.response.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_max_parallel_requests_refuses_the_second_concurrent_stream(api, admin, fake):
    tenant = make_tenant(admin, fake, max_parallel_requests=1)
    admin.add_model(tenant.account_id, "slow", fake.base_url, upstream="openai/slow-300", api_key=CANARY_PROVIDER_KEY)
    client = openai.AsyncOpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0, timeout=10)

    async def stream() -> str | openai.RateLimitError:
        try:
            chunks = await client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
            return "".join([chunk.choices[0].delta.content or "" async for chunk in chunks if chunk.choices])
        except openai.RateLimitError as refused:
            return refused

    try:
        outcomes = await asyncio.gather(stream(), stream())
    finally:
        await client.close()
    refused = [outcome for outcome in outcomes if isinstance(outcome, openai.RateLimitError)]
    streamed = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(refused) == 1 and len(streamed) == 1
    assert streamed[0].startswith("Hello")
    _assert_refused(refused[0], "key", "parallel")


def test_max_parallel_requests_frees_the_slot_before_the_answer_ends(api, admin, fake):
    tenant = make_tenant(admin, fake, max_parallel_requests=1)
    client = _client(api, tenant.key)
    for _ in range(3):
        chunks = client.chat.completions.create(model=tenant.model, messages=MESSAGES, stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert _chat(client, tenant.model).parse().choices


def test_a_deployments_rpm_is_shared_by_every_key_of_the_account(api, admin, fake):
    tenant = make_tenant(admin, fake)
    deployment = admin.ok("POST", "/model/new", tenant.account_id, json={
        "model_name": "metered", "litellm_params": {"model": "openai/fake-model", "api_base": fake.base_url,
                                                    "api_key": CANARY_PROVIDER_KEY, "rpm": 2}})
    assert deployment["litellm_params"]["rpm"] == 2
    first, second = _client(api, tenant.key), _client(api, admin.generate_key(tenant.account_id)["key"])

    _chat(first, "metered")
    _chat(second, "metered")
    _assert_refused(_limited(first, "metered"), "deployment", "rpm")
    assert _chat(first, tenant.model).parse().choices  # the account's other models are not affected
