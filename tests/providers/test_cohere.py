"""Cohere v2 through the real gateway with the openai SDK (chat, streams, tools, embeddings), and the
rerank capability at the adapter level, against a fake Cohere API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal

import httpx
import msgspec
import openai
import pytest

from app.lib.errors import InvalidRequest, RateLimited
from app.providers.base import Deployment
from app.providers.cohere import PROVIDERS
from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.cohere_upstream import TOOL_CALL_ID, FakeCohere
from tests.support.ledger import wait_for_rows

IN_PRICE, OUT_PRICE = Decimal("0.0000025"), Decimal("0.00001")
WRONG_KEY = "wrong-" + uuid.uuid4().hex
PIXEL_URL = "data:image/png;base64,iVBORw0KGgo="
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}


@pytest.fixture(scope="module")
def cohere():
    with FakeCohere(api_key=CANARY_PROVIDER_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def client(api, admin, cohere) -> openai.OpenAI:
    account_id = admin.create_account(f"cohere-{uuid.uuid4().hex[:8]}")

    def deploy(name: str, model: str, api_key: str = CANARY_PROVIDER_KEY) -> None:
        admin.ok("POST", "/model/new", account_id, json={
            "model_name": name, "litellm_params": {"model": f"cohere/{model}", "api_base": cohere.url, "api_key": api_key},
            "model_info": {"input_cost_per_token": float(IN_PRICE), "output_cost_per_token": float(OUT_PRICE)}})

    deploy("command", "command-r-plus")
    deploy("embed", "embed-english-v3.0")
    deploy("rerank", "rerank-v3.5")
    for name in ("context-window", "failed-finish", "slow-200", "error-400", "error-429", "error-500", "error-498"):
        deploy(name, name)
    deploy("wrong-key", "command-r-plus", api_key=WRONG_KEY)
    key = admin.generate_key(account_id)["key"]
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


async def test_sync_chat_maps_messages_parameters_reply_and_usage(client, cohere, db):
    raw = client.chat.completions.with_raw_response.create(
        model="command", max_tokens=50, temperature=0.3, top_p=0.8, seed=7, stop=["zzz"],
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello please"}])
    reply = raw.parse()

    assert reply.choices[0].message.content == "Hello from Cohere Command"
    assert reply.choices[0].finish_reason == "stop" and reply.model == "command-r-plus"
    # billed units (what Cohere invoices, without its prompt template), not the raw token counts
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 4)
    sent = cohere.requests[-1]
    assert sent.path == "/v2/chat" and sent.headers["authorization"] == f"Bearer {CANARY_PROVIDER_KEY}"
    assert sent.body == {
        "model": "command-r-plus", "stream": False,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello please"}],
        "max_tokens": 50, "temperature": 0.3, "p": 0.8, "seed": 7, "stop_sequences": ["zzz"],
    }
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["provider"]) == (6, 4, "cohere")
    assert rows[0]["provider_cost"] == 6 * IN_PRICE + 4 * OUT_PRICE


def test_stream_text_without_usage_chunk(client, cohere):
    chunks = list(client.chat.completions.create(model="command", stream=True,
                                                 messages=[{"role": "user", "content": "say hello"}]))

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Cohere Command"
    assert all(c.choices for c in chunks) and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id
    sent = cohere.requests[-1]
    assert sent.body["stream"] is True and "stream_options" not in sent.body
    assert sent.headers["accept"] == "text/event-stream"


async def test_stream_usage_chunk_when_asked_and_in_the_ledger(client, db):
    raw = client.chat.completions.with_raw_response.create(
        model="command", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "say hello"}])
    chunks = list(raw.parse())

    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 4)  # billed units
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["usage_estimated"]) == (2, 4, False)


class TestTools:
    def test_tool_call_sync(self, client, cohere):
        reply = client.chat.completions.create(model="command", tools=[WEATHER_TOOL], tool_choice="required",
                                               messages=[{"role": "user", "content": "weather in Paris?"}])

        call = reply.choices[0].message.tool_calls[0]
        assert reply.choices[0].finish_reason == "tool_calls"
        assert (call.id, call.function.name, json.loads(call.function.arguments)) == (TOOL_CALL_ID, "get_weather", {"city": "Paris"})
        sent = cohere.requests[-1].body
        assert sent["tools"] == [WEATHER_TOOL] and sent["tool_choice"] == "REQUIRED"

    def test_tool_call_streamed_arguments_are_assembled(self, client):
        chunks = list(client.chat.completions.create(model="command", tools=[WEATHER_TOOL], stream=True,
                                                     messages=[{"role": "user", "content": "weather?"}]))

        pieces = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
        assert (pieces[0].id, pieces[0].function.name, pieces[0].index) == (TOOL_CALL_ID, "get_weather", 0)
        assert "".join(p.function.arguments or "" for p in pieces) == '{"city": "Paris"}'
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

    def test_tool_results_go_back_as_tool_messages(self, client, cohere):
        messages = [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
        reply = client.chat.completions.create(model="command", tools=[WEATHER_TOOL], messages=messages)

        assert reply.choices[0].finish_reason == "stop"
        assert cohere.requests[-1].body["messages"] == [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]

    def test_naming_one_tool_offers_only_that_tool_and_requires_it(self, client, cohere):
        other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
        client.chat.completions.create(model="command", tools=[other, WEATHER_TOOL],
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                       messages=[{"role": "user", "content": "weather?"}])
        sent = cohere.requests[-1].body
        assert sent["tools"] == [WEATHER_TOOL] and sent["tool_choice"] == "REQUIRED"


def test_images_go_as_image_url_parts(client, cohere):
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": PIXEL_URL}}]
    client.chat.completions.create(model="command", messages=[{"role": "user", "content": content}])
    assert cohere.requests[-1].body["messages"] == [{"role": "user", "content": content}]


class TestStopReasons:
    def test_max_tokens_is_length(self, client):
        reply = client.chat.completions.create(model="command", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert (reply.choices[0].finish_reason, reply.choices[0].message.content) == ("length", "Hello from")

    def test_stop_sequence_is_stop(self, client):
        reply = client.chat.completions.create(model="command", stop="Cohere", messages=[{"role": "user", "content": "hi"}])
        assert (reply.choices[0].finish_reason, reply.choices[0].message.content) == ("stop", "Hello from ")

    def test_max_tokens_is_length_when_streamed(self, client):
        chunks = list(client.chat.completions.create(model="command", max_tokens=1, stream=True,
                                                     messages=[{"role": "user", "content": "hi"}]))
        assert chunks[-1].choices[0].finish_reason == "length"

    async def test_a_stream_that_ends_in_error_is_a_failed_stream(self, client, db):
        raw = client.chat.completions.with_raw_response.create(
            model="failed-finish", stream=True, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.APIError) as caught:
            list(raw.parse())
        assert caught.value.body["code"] == "upstream_stream_error"
        rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
        assert rows[0]["status"] == "error"


async def test_dropped_client_closes_the_upstream_stream(api, client, cohere):
    before = cohere.state.cancelled_streams
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream("POST", f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {client.api_key}"},
                               json={"model": "slow-200", "stream": True,
                                     "messages": [{"role": "user", "content": "a long story"}]}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    break
    deadline = time.monotonic() + 5
    while cohere.state.cancelled_streams == before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert cohere.state.cancelled_streams == before + 1


class TestErrors:
    def test_bad_request_passes_through_with_cohere_message(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="error-400", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["message"] == "Fake Cohere error 400"

    def test_too_many_tokens_is_context_length_exceeded(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="context-window", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "context_length_exceeded"
        assert caught.value.body["message"].startswith("too many tokens:")

    def test_rate_limit_is_429(self, client):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="error-429", messages=[{"role": "user", "content": "hi"}])

    def test_rate_limit_before_a_stream_is_429(self, client):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="error-429", stream=True, messages=[{"role": "user", "content": "hi"}])

    def test_server_error_is_502(self, client):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="error-500", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 502

    @pytest.mark.parametrize("model", ["wrong-key", "error-498"])
    def test_refused_credentials_are_502_without_the_key(self, client, model):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "upstream_auth_failed"
        assert WRONG_KEY not in json.dumps(caught.value.body) and "api token" not in json.dumps(caught.value.body)


def test_embeddings_float_and_base64(client, cohere):
    floats = client.embeddings.create(model="embed", input=["one two", "three"], encoding_format="float")

    assert [len(item.embedding) for item in floats.data] == [8, 8] and floats.usage.prompt_tokens == 3
    sent = cohere.requests[-1]
    assert sent.path == "/v2/embed"
    assert sent.body == {"model": "embed-english-v3.0", "texts": ["one two", "three"], "input_type": "search_document",
                         "embedding_types": ["float"]}
    decoded = client.embeddings.create(model="embed", input="one two")  # the SDK asks for base64
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


# --- rerank: an optional capability, called by the gateway's /v1/rerank route ---

def _deployment(cohere: FakeCohere, model: str = "rerank-v3.5", api_key: str = CANARY_PROVIDER_KEY) -> Deployment:
    return Deployment(id=uuid.uuid4(), account_id=uuid.uuid4(), model_name="rerank", provider="cohere",
                      upstream_model=model, api_base=cohere.url, api_key=api_key)


async def test_rerank_returns_cohere_results_and_search_units(cohere):
    body = {"model": "rerank-v3.5", "query": "capital of france",
            "documents": ["Berlin is in Germany", "Paris is the capital of France", "Bananas"], "top_n": 2}
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await PROVIDERS["cohere"].rerank(http, _deployment(cohere), dict(body))

    result = msgspec.json.decode(reply.body)
    assert [item["index"] for item in result["results"]] == [1, 0]
    assert result["meta"]["billed_units"] == {"search_units": 1}
    assert reply.usage.prompt_tokens == 1
    sent = cohere.requests[-1]
    assert (sent.path, sent.body) == ("/v2/rerank", body)
    assert sent.headers["authorization"] == f"Bearer {CANARY_PROVIDER_KEY}"


async def test_rerank_through_the_gateway_route_is_recorded_in_search_units(api, client, cohere, db):
    body = {"model": "rerank", "query": "capital of france", "documents": ["Paris is the capital of France", "Bananas"]}
    response = httpx.post(f"{api.url}/v1/rerank", headers={"authorization": f"Bearer {client.api_key}"}, json=body)

    assert response.status_code == 200, response.text
    assert [item["index"] for item in response.json()["results"]] == [0, 1]
    assert cohere.requests[-1].body == {**body, "model": "rerank-v3.5"}
    rows = await wait_for_rows(db, "request_id = $1", response.headers["x-request-id"], expected=1)
    assert (rows[0]["call_type"], rows[0]["prompt_tokens"], rows[0]["provider"]) == ("rerank", 1, "cohere")


async def test_rerank_errors_map_like_chat(cohere):
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(RateLimited):
            await PROVIDERS["cohere"].rerank(http, _deployment(cohere, "error-429"), {"query": "q", "documents": ["d"]})
        with pytest.raises(InvalidRequest) as caught:
            await PROVIDERS["cohere"].rerank(http, _deployment(cohere), {"query": "q", "documents": [{"text": "d"}]})
    assert caught.value.message.startswith("invalid request:")
