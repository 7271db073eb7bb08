"""gemini/<model> through the real gateway, with the openai SDK as client and a fake Generative Language API."""

from __future__ import annotations

import asyncio
import base64
import struct
import time

import httpx
import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.gemini_upstream import FakeGemini
from tests.support.ledger import wait_for_rows

MODELS = ("gemini-2.5-flash", "thinking", "cached", "blocked", "too-long", "error-400", "error-429", "error-500",
          "slow-200", "stream-cut", "gemini-embedding-001")
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"], "additionalProperties": False}},
}


@pytest.fixture(scope="module")
def gemini():
    with FakeGemini(api_key=CANARY_PROVIDER_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def key(admin, gemini) -> str:
    account_id = admin.create_account("gemini-tests")
    for model in MODELS:
        admin.ok("POST", "/model/new", account_id, json={
            "model_name": model,
            "litellm_params": {"model": f"gemini/{model}", "api_key": CANARY_PROVIDER_KEY, "api_base": gemini.base_url},
        })
    admin.ok("POST", "/model/new", account_id, json={
        "model_name": "bad-key",
        "litellm_params": {"model": "gemini/gemini-2.5-flash", "api_key": "AIza-wrong-key-not-the-canary",
                           "api_base": gemini.base_url},
    })
    return admin.generate_key(account_id)["key"]


@pytest.fixture(scope="module")
def sdk(api, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


def last_request(gemini: FakeGemini):
    return gemini.requests[-1]


async def test_chat_maps_system_prompt_parameters_and_usage(sdk, gemini, db):
    raw = sdk.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", temperature=0.3, top_p=0.9, max_tokens=50, stop=["END"], seed=7,
        messages=[{"role": "system", "content": "You are terse."}, {"role": "developer", "content": "No emoji."},
                  {"role": "user", "content": "Say hello"}])
    reply = raw.parse()

    sent = last_request(gemini)
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent" and sent.query == {}
    assert sent.headers["x-goog-api-key"] == CANARY_PROVIDER_KEY and "authorization" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "No emoji."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 50, "seed": 7, "stopSequences": ["END"]},
    }
    assert reply.object == "chat.completion" and reply.id == "chatcmpl-fake-response-1"
    assert reply.choices[0].message.content == "Hello from fake gemini"
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].finish_reason == "stop"
    # prompt: "Say hello" (2) + system parts (3 + 2) words
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (7, 4, 11)

    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert rows[0]["provider"] == "gemini" and rows[0]["upstream_model"] == "gemini-2.5-flash"
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["status"]) == (7, 4, "success")


async def test_stream_relays_text_finish_reason_and_usage_only_when_asked(sdk, gemini, db):
    messages = [{"role": "user", "content": "Say hello"}]
    chunks = list(sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages, stream=True))

    sent = last_request(gemini)
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and sent.query == {"alt": ["sse"]}
    assert sent.body == {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    assert all(chunk.choices for chunk in chunks), "no usage chunk for a client that did not ask"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from fake gemini"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {chunk.id for chunk in chunks} == {"chatcmpl-fake-stream-1"}

    with sdk.chat.completions.with_streaming_response.create(
            model="gemini-2.5-flash", messages=messages, stream=True, stream_options={"include_usage": True}) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 2
    assert chunks[-1].usage.completion_tokens == 4 and chunks[-1].usage.total_tokens == 6
    assert sum(1 for chunk in chunks if chunk.usage) == 1

    rows = await wait_for_rows(db, "request_id = $1", request_id, expected=1)
    assert rows[0]["stream"] is True and (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (2, 4)
    assert rows[0]["usage_estimated"] is False


def test_tool_definitions_and_calls_sync_and_streamed(sdk, gemini):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    reply = sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER_TOOL],
                                        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    sent = last_request(gemini).body
    assert sent["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert (call.id, call.type, call.function.name, call.function.arguments) == (
        "call_0", "function", "get_weather", '{"city":"Paris"}')

    chunks = list(sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER_TOOL],
                                              tool_choice="required", stream=True))
    assert last_request(gemini).body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == "call_0" and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas) == '{"city":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # The next turn: the call and its result go back as functionCall / functionResponse parts.
    sdk.chat.completions.create(model="gemini-2.5-flash", tools=[WEATHER_TOOL], tool_choice="none", messages=[
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": '{"temperature_c": 21}'},
        {"role": "tool", "tool_call_id": "call_x", "content": "unrelated plain text"},
    ])
    sent = last_request(gemini).body
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temperature_c": 21}}},
            {"functionResponse": {"name": "call_x", "response": {"content": "unrelated plain text"}}}]},
    ]


def test_images_become_inline_data_or_file_references(sdk, gemini):
    pixel = base64.b64encode(b"\x89PNG fake").decode()
    sdk.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp", "detail": "low"}},
    ]}])
    assert last_request(gemini).body["contents"] == [{"role": "user", "parts": [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": pixel}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
    ]}]


def test_stop_reasons_are_mapped(sdk):
    reply = sdk.chat.completions.create(model="gemini-2.5-flash", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.content == "Hello from"

    blocked = sdk.chat.completions.create(model="blocked", messages=[{"role": "user", "content": "something bad"}])
    assert blocked.choices[0].finish_reason == "content_filter" and blocked.choices[0].message.content is None

    chunks = list(sdk.chat.completions.create(model="blocked", stream=True, messages=[{"role": "user", "content": "x"}]))
    assert chunks[-1].choices[0].finish_reason == "content_filter"


async def test_reasoning_and_cached_tokens_reach_the_ledger(sdk, gemini, db):
    raw = sdk.chat.completions.with_raw_response.create(model="thinking", reasoning_effort="low",
                                                        messages=[{"role": "user", "content": "think then greet"}])
    reply = raw.parse()
    assert last_request(gemini).body["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
    assert reply.choices[0].message.content == "Hello from fake gemini"
    assert reply.choices[0].message.reasoning_content == "Thinking about the greeting."
    assert reply.usage.completion_tokens == 4 + 7 and reply.usage.completion_tokens_details.reasoning_tokens == 7
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["completion_tokens"], rows[0]["reasoning_tokens"]) == (11, 7)

    chunks = list(sdk.chat.completions.create(model="thinking", stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "think then greet"}]))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "Thinking about the greeting."
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 7

    raw = sdk.chat.completions.with_raw_response.create(model="cached", messages=[{"role": "user", "content": "a b c d e f"}])
    reply = raw.parse()
    assert reply.usage.prompt_tokens == 6 and reply.usage.prompt_tokens_details.cached_tokens == 4
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["cached_tokens"]) == (6, 4)


def test_json_schema_response_format_becomes_response_schema(sdk, gemini):
    schema = {"type": "object", "additionalProperties": False, "$schema": "http://json-schema.org/draft-07/schema#",
              "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]},
                             "pet": {"$ref": "#/$defs/Pet"}},
              "required": ["name"], "$defs": {"Pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}}}}
    sdk.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "who?"}],
                                response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    assert last_request(gemini).body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "age": {"type": "integer", "nullable": True},
            "pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}}}},
    }


async def test_embeddings_use_batch_embed_contents(sdk, gemini, db):
    raw = sdk.embeddings.with_raw_response.create(model="gemini-embedding-001", input=["hello", "world!"], dimensions=4)
    result = raw.parse()
    sent = last_request(gemini)
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 4},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "world!"}]}, "outputDimensionality": 4}]}
    assert [item.index for item in result.data] == [0, 1]
    assert result.data[0].embedding == pytest.approx([0.05, 0.06, 0.07, 0.08])
    assert result.data[1].embedding == pytest.approx([0.06, 0.07, 0.08, 0.09])
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert rows[0]["call_type"] == "embeddings" and rows[0]["prompt_tokens"] > 0  # counted by the gateway


def test_embeddings_as_floats(api, key):
    response = httpx.post(f"{api.url}/v1/embeddings", headers={"authorization": f"Bearer {key}"},
                          json={"model": "gemini-embedding-001", "input": "hello", "encoding_format": "float"})
    assert response.status_code == 200
    assert response.json()["data"][0]["embedding"] == [0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12]


def test_errors_are_mapped(sdk, gemini):
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="error-400", messages=messages)
    assert bad.value.body["message"] == "Request contains an invalid argument."
    assert bad.value.body["code"] == "invalid_argument"

    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model="error-429", messages=messages)
    assert limited.value.response.headers["retry-after"] == "12"  # from Google's RetryInfo.retryDelay "11.5s"
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="error-500", messages=messages)
    assert failed.value.status_code == 502
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model="error-500", messages=messages, stream=True)
    assert failed.value.status_code == 502

    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.chat.completions.create(model="too-long", messages=messages)
    assert too_long.value.body["code"] == "context_length_exceeded"
    assert "exceeds the maximum number of tokens allowed" in too_long.value.body["message"]

    # Google answers a bad API key with a 400; it is the gateway's credential, so the caller sees a 502.
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.chat.completions.create(model="bad-key", messages=messages)
    assert refused.value.status_code == 502 and refused.value.body["code"] == "upstream_auth_failed"
    assert "AIza-wrong-key" not in str(refused.value.body)
    assert gemini.requests[-1].headers["x-goog-api-key"] == "AIza-wrong-key-not-the-canary"

    with pytest.raises(openai.BadRequestError) as unsupported:
        sdk.chat.completions.create(model="gemini-2.5-flash", messages=[
            {"role": "user", "content": [{"type": "input_video", "video": "x"}]}])
    assert "not supported" in unsupported.value.body["message"]


async def test_dropped_stream_closes_the_upstream(api, key, gemini):
    cancelled = gemini.state.cancelled_streams
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                 json={"model": "slow-200", "stream": True,
                                       "messages": [{"role": "user", "content": "go slowly"}]}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    break
    deadline = time.monotonic() + 5
    while gemini.state.cancelled_streams == cancelled and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert gemini.state.cancelled_streams == cancelled + 1


def test_a_stream_cut_before_its_finish_reason_ends_with_an_error(sdk):
    stream = sdk.chat.completions.create(model="stream-cut", messages=[{"role": "user", "content": "hi"}], stream=True)
    received = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].choices[0].delta.content == "Hello"
    assert "upstream stream failed" in str(broken.value).lower()
