"""/v1/responses and /v1/messages with the official SDKs: native where the vendor speaks the API,
translated onto chat everywhere else, recorded in the ledger like chat."""

from __future__ import annotations

import uuid

import anthropic
import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows


@pytest.fixture
def setup(api, admin, fake):
    account = admin.create_account(f"dialects-{uuid.uuid4().hex[:6]}")
    for name, upstream in (("gpt-native", "openai/gpt-4o-mini"), ("vllm", "hosted_vllm/llama-3")):
        admin.ok("POST", "/model/new", account, json={"model_name": name, "litellm_params": {
            "model": upstream, "api_base": fake.base_url, "api_key": CANARY_PROVIDER_KEY},
            "model_info": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}})
    key = admin.generate_key(account)["key"]
    return account, key


async def test_responses_native_and_translated(api, setup, fake, db):
    account, key = setup
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)

    native = client.responses.create(model="gpt-native", input="hello", store=False)
    assert native.output_text == "Hello from responses" and fake.requests[-1].path == "/v1/responses"

    translated = client.responses.create(model="vllm", input="say hello to the gateway", instructions="be brief")
    assert translated.output_text == "Hello w1 w2 w3 w4 from upstream-a"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert translated.usage.input_tokens == sent_prompt_tokens(sent.body)

    with client.responses.stream(model="vllm", input="say hello to the gateway") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello w1 w2 w3 w4 from upstream-a" and final.usage.output_tokens == 5

    streamed_native = list(client.responses.create(model="gpt-native", input="hello", stream=True))
    assert streamed_native[-1].type == "response.completed"

    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=4)
    assert [row["call_type"] for row in rows] == ["responses"] * 4
    assert rows[0]["prompt_tokens"] == 9 and rows[0]["completion_tokens"] == 4, "native usage is recorded"
    assert all(row["status"] == "success" and not row["usage_estimated"] for row in rows)


def sent_prompt_tokens(body: dict) -> int:
    return sum(len(str(m["content"]).split()) + 3 for m in body["messages"])


async def test_messages_translated_for_a_non_anthropic_vendor(api, setup, fake, db):
    account, key = setup
    client = anthropic.Anthropic(base_url=api.url, api_key=key, max_retries=0)

    message = client.messages.create(model="vllm", max_tokens=50, system="be brief",
                                     messages=[{"role": "user", "content": "say hello to the gateway"}])
    assert message.content[0].text == "Hello w1 w2 w3 w4 from upstream-a"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 5
    assert fake.requests[-1].body["messages"][0] == {"role": "system", "content": "be brief"}

    with client.messages.stream(model="vllm", max_tokens=50,
                                messages=[{"role": "user", "content": "say hello to the gateway"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello w1 w2 w3 w4 from upstream-a" and final.usage.output_tokens == 5

    counted = client.messages.count_tokens(model="vllm", messages=[{"role": "user", "content": "hello there"}])
    assert counted.input_tokens > 0

    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=2)
    assert len(rows) == 2 and {row["call_type"] for row in rows} == {"messages"}


def test_messages_errors_come_in_anthropics_shape(api, setup):
    _, key = setup
    client = anthropic.Anthropic(base_url=api.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=api.url, api_key="sk-wrong", max_retries=0).messages.create(
            model="vllm", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
