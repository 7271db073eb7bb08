"""Azure OpenAI through the real gateway with the openai SDK, against a fake Azure resource."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.azure_upstream import FakeAzure
from tests.support.ledger import wait_for_rows

API_VERSION = "2024-10-21"
IN_PRICE, OUT_PRICE = Decimal("0.0000025"), Decimal("0.00001")
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello to azure"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}


@pytest.fixture(scope="module")
def azure():
    with FakeAzure(api_key=CANARY_PROVIDER_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def client(api, admin, azure) -> openai.OpenAI:
    account_id = admin.create_account(f"azure-{uuid.uuid4().hex[:8]}")

    def deploy(name: str, deployment: str, **params) -> None:
        litellm = {"model": f"azure/{deployment}", "api_base": azure.url, "api_version": API_VERSION,
                   "api_key": CANARY_PROVIDER_KEY, **params}
        admin.ok("POST", "/model/new", account_id, json={
            "model_name": name, "litellm_params": {k: v for k, v in litellm.items() if v is not None},
            "model_info": {"input_cost_per_token": float(IN_PRICE), "output_cost_per_token": float(OUT_PRICE)}})

    deploy("gpt-4o", "gpt4o-prod")
    deploy("embed", "embed-small")
    for name in ("content-filter", "context-window", "error-400", "error-429", "error-500"):
        deploy(name, name)
    deploy("no-version", "gpt4o-prod", api_version=None)
    deploy("wrong-key", "gpt4o-prod", api_key="sk-wrong-" + uuid.uuid4().hex)
    key = admin.generate_key(account_id)["key"]
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


async def test_sync_chat_goes_to_the_deployment_url_with_api_version_and_api_key(client, azure, db):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, temperature=0.3)
    reply = raw.parse()

    assert reply.choices[0].message.content == "Hello w1 w2 w3 w4 from azure"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (13, 5)
    assert reply.to_dict()["prompt_filter_results"][0]["prompt_index"] == 0  # Azure's annotations pass through
    sent = azure.requests[-1]
    assert sent.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert sent.query == f"api-version={API_VERSION}"
    assert sent.headers["api-key"] == CANARY_PROVIDER_KEY and "authorization" not in sent.headers
    assert sent.body == {"model": "gpt4o-prod", "messages": MESSAGES, "temperature": 0.3}

    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["provider"]) == (13, 5, "azure")
    assert rows[0]["provider_cost"] == 13 * IN_PRICE + 5 * OUT_PRICE


def test_stream_drops_the_filter_only_chunk_and_the_unasked_usage_chunk(client, azure):
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))

    assert all(c.choices for c in chunks), "neither Azure's prompt_filter_results chunk nor the usage chunk"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello w1 w2 w3 w4 from azure"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert azure.requests[-1].body["stream_options"] == {"include_usage": True}


async def test_stream_keeps_the_usage_chunk_when_asked(client, db):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(raw.parse())

    assert chunks[-1].choices == [] and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (13, 5)
    assert all(c.choices for c in chunks[:-1])
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["usage_estimated"]) == (13, 5, False)


def test_tools_and_tool_calls_sync_and_streamed(client, azure):
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert azure.requests[-1].body["tools"] == [WEATHER_TOOL]

    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True))
    pieces = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert "".join(p.function.arguments or "" for p in pieces) == '{"city":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images_pass_through_in_openai_format(client, azure):
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert azure.requests[-1].body["messages"] == [{"role": "user", "content": content}]


def test_embeddings_go_to_the_deployment_embeddings_url(client, azure):
    result = client.embeddings.create(model="embed", input=["one two", "three"], encoding_format="float")

    assert [len(item.embedding) for item in result.data] == [8, 8] and result.usage.prompt_tokens == 3
    sent = azure.requests[-1]
    assert (sent.path, sent.query) == ("/openai/deployments/embed-small/embeddings", f"api-version={API_VERSION}")
    assert sent.headers["api-key"] == CANARY_PROVIDER_KEY


def test_legacy_completions_stream_and_image_generation_use_deployment_urls(api, client, azure):
    chunks = list(client.completions.create(model="gpt-4o", prompt="once upon", stream=True))
    assert all(c.choices for c in chunks), "Azure's prompt_filter_results chunk is dropped here too"
    assert "".join(c.choices[0].text for c in chunks) == "Once t1 t2 t3 t4"
    assert azure.requests[-1].path == "/openai/deployments/gpt4o-prod/completions"

    image = client.images.generate(model="gpt-4o", prompt="a red fox")
    assert image.data[0].b64_json
    sent = azure.requests[-1]
    assert (sent.path, sent.query) == ("/openai/deployments/gpt4o-prod/images/generations", f"api-version={API_VERSION}")


def test_a_deployment_without_api_version_is_a_clear_400_and_reaches_nobody(client, azure):
    count = len(azure.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="no-version", messages=MESSAGES)
    assert "api_version" in caught.value.body["message"] and caught.value.code == "deployment_misconfigured"
    assert len(azure.requests) == count


class TestErrors:
    def test_content_filter_passes_through_as_400(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="content-filter", messages=MESSAGES)
        assert caught.value.code == "content_filter" and caught.value.body["param"] == "prompt"
        assert "content management policy" in caught.value.body["message"]

    def test_content_filter_before_a_stream_is_400_too(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="content-filter", messages=MESSAGES, stream=True)
        assert caught.value.code == "content_filter"

    def test_context_window_is_context_length_exceeded(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="context-window", messages=MESSAGES)
        assert caught.value.code == "context_length_exceeded"
        assert caught.value.body["message"].startswith("This model's maximum context length is 128000 tokens.")

    def test_bad_request_passes_through(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="error-400", messages=MESSAGES)
        assert caught.value.body["message"] == "Fake Azure error 400"

    def test_rate_limit_is_429_with_retry_after(self, client):
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="error-429", messages=MESSAGES)
        assert caught.value.response.headers["retry-after"] == "7"

    def test_server_error_is_502(self, client):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="error-500", messages=MESSAGES)
        assert caught.value.status_code == 502

    def test_a_wrong_key_is_502_without_the_key(self, client):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="wrong-key", messages=MESSAGES)
        assert caught.value.code == "upstream_auth_failed"
        assert "sk-wrong" not in json.dumps(caught.value.body) and "subscription key" not in json.dumps(caught.value.body)
