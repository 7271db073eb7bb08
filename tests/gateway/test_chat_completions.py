"""/v1/chat/completions through the official openai SDK against a real fake upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY, make_tenant


def sdk(api, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


MESSAGES = [{"role": "user", "content": "say hello to the gateway"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}


def test_sync_completion_reaches_the_deployment_with_its_own_model_and_key(api, tenant, fake):
    reply = sdk(api, tenant.key).chat.completions.create(model=tenant.model, messages=MESSAGES, temperature=0.2)

    assert reply.choices[0].message.content == "Hello w1 w2 w3 w4 from upstream-a"
    assert reply.usage.prompt_tokens == 8 and reply.usage.completion_tokens == 5
    sent = fake.requests[-1]
    assert sent.body["model"] == "fake-model"  # the upstream name, not the account's alias
    assert sent.body["temperature"] == 0.2 and sent.body["messages"] == MESSAGES
    assert sent.headers["authorization"] == f"Bearer {CANARY_PROVIDER_KEY}"


def test_stream_relays_every_chunk_and_strips_the_usage_chunk_nobody_asked_for(api, tenant, fake):
    stream = sdk(api, tenant.key).chat.completions.create(model=tenant.model, messages=MESSAGES, stream=True)
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2 w3 w4 from upstream-a"
    assert all(chunk.choices for chunk in chunks), "the usage-only chunk must not reach a client that did not ask"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}, "the gateway asks upstream for usage"


def test_stream_keeps_the_usage_chunk_when_the_client_asks(api, tenant):
    stream = sdk(api, tenant.key).chat.completions.create(
        model=tenant.model, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)

    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert chunks[-1].usage.prompt_tokens == 8


def test_tool_calls_pass_through_sync_and_streamed(api, tenant, fake):
    client = sdk(api, tenant.key)
    reply = client.chat.completions.create(model=tenant.model, messages=MESSAGES, tools=[WEATHER_TOOL])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}'
    assert fake.requests[-1].body["tools"] == [WEATHER_TOOL]

    chunks = list(client.chat.completions.create(model=tenant.model, messages=MESSAGES, tools=[WEATHER_TOOL], stream=True))
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in chunks if c.choices and c.choices[0].delta.tool_calls
    )
    assert arguments == '{"city":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_same_model_name_in_two_accounts_reaches_each_accounts_own_upstream(api, admin, fake, fake_b):
    first = make_tenant(admin, fake, model="gpt-4o-mini")
    second = make_tenant(admin, fake_b, model="gpt-4o-mini")

    for _ in range(3):
        a = sdk(api, first.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        b = sdk(api, second.key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert a.choices[0].message.content.endswith("from upstream-a")
        assert b.choices[0].message.content.endswith("from upstream-b")


def test_models_lists_only_what_the_key_may_use(api, admin, fake, tenant):
    admin.add_model(tenant.account_id, "embed-small", fake.base_url, api_key=CANARY_PROVIDER_KEY)
    restricted = admin.generate_key(tenant.account_id, models=["embed-small"])["key"]
    other = make_tenant(admin, fake, model="only-in-other-account")

    assert sorted(m.id for m in sdk(api, tenant.key).models.list()) == ["embed-small", "gpt-4o-mini"]
    assert [m.id for m in sdk(api, restricted).models.list()] == ["embed-small"]
    assert "only-in-other-account" not in [m.id for m in sdk(api, tenant.key).models.list()]
    assert other.model in [m.id for m in sdk(api, other.key).models.list()]


class TestErrors:
    def test_unknown_model_is_404_model_not_found(self, api, tenant):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(api, tenant.key).chat.completions.create(model="no-such-model", messages=MESSAGES)
        assert caught.value.code == "model_not_found"
        assert caught.value.body["type"] == "not_found_error"

    def test_another_accounts_model_is_404_too(self, api, admin, fake, tenant):
        other = make_tenant(admin, fake, model="private-model")
        with pytest.raises(openai.NotFoundError):
            sdk(api, tenant.key).chat.completions.create(model=other.model, messages=MESSAGES)

    def test_key_restricted_to_other_models_is_403(self, api, admin, fake, tenant):
        admin.add_model(tenant.account_id, "other-model", fake.base_url, api_key=CANARY_PROVIDER_KEY)
        restricted = admin.generate_key(tenant.account_id, models=["other-model"])["key"]
        with pytest.raises(openai.PermissionDeniedError) as caught:
            sdk(api, restricted).chat.completions.create(model=tenant.model, messages=MESSAGES)
        assert caught.value.body["type"] == "permission_error"

    def test_unknown_key_is_401(self, api, tenant):
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk(api, "sk-not-a-real-key").chat.completions.create(model=tenant.model, messages=MESSAGES)
        assert caught.value.body["type"] == "authentication_error"

    def test_missing_key_is_401(self, api):
        response = httpx.post(f"{api.url}/v1/chat/completions", json={"model": "x", "messages": MESSAGES})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"

    def test_malformed_json_is_400(self, api, tenant):
        response = httpx.post(f"{api.url}/v1/chat/completions", content=b'{"model": "gpt-4o-mini", "messa',
                              headers={"authorization": f"Bearer {tenant.key}", "content-type": "application/json"})
        assert response.status_code == 400
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["type"] == "invalid_request_error"

    def test_missing_messages_is_400_naming_the_field(self, api, tenant):
        response = httpx.post(f"{api.url}/v1/chat/completions", json={"model": tenant.model},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 400 and response.json()["error"]["param"] == "messages"

    def test_body_over_the_limit_is_413(self, api, tenant, fake):
        before = len(fake.requests)
        huge = "x" * (9 * 1024 * 1024)
        response = httpx.post(f"{api.url}/v1/chat/completions", timeout=30,
                              json={"model": tenant.model, "messages": [{"role": "user", "content": huge}]},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert len(fake.requests) == before

    @pytest.mark.parametrize("override", [
        {"api_base": "http://127.0.0.1:1/v1"},
        {"base_url": "http://127.0.0.1:1/v1"},
        {"api_key": "sk-attacker"},
        {"headers": {"authorization": "Bearer x"}},
        {"extra_body": {"api_base": "http://127.0.0.1:1/v1"}},
        {"metadata": {"api_key": "sk-attacker"}},
    ])
    def test_the_body_cannot_choose_the_upstream_or_its_credentials(self, api, tenant, fake, override):
        before = len(fake.requests)
        response = httpx.post(f"{api.url}/v1/chat/completions",
                              json={"model": tenant.model, "messages": MESSAGES, **override},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "forbidden_parameter"
        assert len(fake.requests) == before, "nothing may reach any upstream"

    def test_upstream_500_is_502_api_error(self, api, admin, fake, tenant):
        admin.add_model(tenant.account_id, "broken", fake.base_url, upstream="openai/error-500", api_key=CANARY_PROVIDER_KEY)
        with pytest.raises(openai.InternalServerError) as caught:
            sdk(api, tenant.key).chat.completions.create(model="broken", messages=MESSAGES)
        assert caught.value.status_code == 502 and caught.value.body["type"] == "api_error"

    def test_upstream_429_is_429_with_retry_after(self, api, admin, fake, tenant):
        admin.add_model(tenant.account_id, "busy", fake.base_url, upstream="openai/error-429", api_key=CANARY_PROVIDER_KEY)
        response = httpx.post(f"{api.url}/v1/chat/completions", json={"model": "busy", "messages": MESSAGES},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 429 and "retry-after" in response.headers
        assert response.json()["error"]["type"] == "rate_limit_error"

    def test_upstream_400_is_the_callers_fault_and_passes_through(self, api, admin, fake, tenant):
        admin.add_model(tenant.account_id, "picky", fake.base_url, upstream="openai/error-400", api_key=CANARY_PROVIDER_KEY)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk(api, tenant.key).chat.completions.create(model="picky", messages=MESSAGES)
        assert "Fake upstream error 400" in caught.value.body["message"]

    def test_upstream_refusing_our_credentials_is_502_without_leaking_them(self, api, admin, fake, tenant):
        admin.add_model(tenant.account_id, "wrong-key", fake.base_url, api_key="sk-wrong-provider-key-0000")
        response = httpx.post(f"{api.url}/v1/chat/completions", json={"model": "wrong-key", "messages": MESSAGES},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 502
        assert "sk-wrong-provider-key" not in response.text and CANARY_PROVIDER_KEY not in response.text

    def test_unreachable_upstream_is_502(self, api, admin, tenant):
        admin.add_model(tenant.account_id, "nowhere", "http://127.0.0.1:9/v1", api_key=CANARY_PROVIDER_KEY)
        response = httpx.post(f"{api.url}/v1/chat/completions", json={"model": "nowhere", "messages": MESSAGES},
                              headers={"authorization": f"Bearer {tenant.key}"})
        assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unreachable"
