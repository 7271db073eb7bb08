"""`anthropic/<model>` deployments: OpenAI chat through the real gateway (official openai SDK as the
client) against a fake Anthropic upstream that checks every request field like the real API, plus the
native Messages pass-through called on the adapter directly."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal

import httpx
import openai
import pytest

from app.lib.errors import InvalidRequest, RateLimited, UpstreamFailed
from app.providers.anthropic.adapter import Anthropic
from app.providers.base import Deployment
from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.support.ledger import wait_for_rows

UPSTREAMS = {
    "claude": "claude-sonnet-4-5", "thinking": "thinking-claude", "slow": "slow-300",
    "bad-request": "error-400", "rate-limited": "error-429", "server-error": "error-500", "overloaded": "error-529",
    "too-long": "too-long", "context-limit": "context-limit", "echo-key": "echo-key-400",
    "stream-error": "stream-error-claude", "stream-cut": "stream-cut-claude",
}
USER = [{"role": "user", "content": "say hello"}]
ANSWER = "Hello w1 w2 w3 w4 from fake-anthropic"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PARIS, ROME = '{"city":"Paris"}', '{"city":"Rome"}'
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image").decode()


@pytest.fixture(scope="module")
def upstream():
    with FakeAnthropic(api_key=CANARY_PROVIDER_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def claude(api, admin, upstream):
    """An account with one deployment per fake scenario (no prices: the catalog's Claude prices apply)."""
    account_id = admin.create_account(f"acct-anthropic-{uuid.uuid4().hex[:8]}")
    for name, model in UPSTREAMS.items():
        admin.add_model(account_id, name, upstream.base_url, upstream=f"anthropic/{model}", api_key=CANARY_PROVIDER_KEY)
    admin.add_model(account_id, "wrong-key", upstream.base_url, upstream="anthropic/claude-sonnet-4-5",
                    api_key="sk-ant-not-the-right-key")
    key = admin.generate_key(account_id)["key"]
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


def sent(upstream: FakeAnthropic) -> dict:
    return upstream.requests[-1].body


class TestChat:
    def test_request_is_the_messages_api_format_and_reply_is_openai(self, claude, upstream):
        reply = claude.chat.completions.create(
            model="claude", temperature=0.5, top_p=0.9, max_tokens=50, stop="STOP", user="alice",
            presence_penalty=0, seed=7,  # no Anthropic equivalent: not sent (Anthropic refuses unknown fields)
            messages=[{"role": "system", "content": "You are terse."}, *USER])

        request = upstream.requests[-1]
        assert (request.method, request.path) == ("POST", "/v1/messages")
        assert request.headers["x-api-key"] == CANARY_PROVIDER_KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.headers["content-type"] == "application/json"
        assert "authorization" not in request.headers
        assert request.body == {
            "model": "claude-sonnet-4-5", "max_tokens": 50, "temperature": 0.5, "top_p": 0.9,
            "stop_sequences": ["STOP"], "metadata": {"user_id": "alice"}, "system": "You are terse.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "say hello"}]}],
        }
        assert reply.id == "msg_01FakeMessage" and reply.object == "chat.completion"
        assert reply.model == "claude-sonnet-4-5" and reply.created > 0
        assert reply.choices[0].message.role == "assistant"
        assert reply.choices[0].message.content == ANSWER
        assert reply.choices[0].finish_reason == "stop"
        # The fake counts words, plus 3 per message: 3 (system) + 2 + 3 (user).
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (8, 5, 13)

    def test_system_and_developer_messages_become_blocks_and_same_role_turns_merge(self, claude, upstream):
        claude.chat.completions.create(model="claude", messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "developer", "content": [
                {"type": "text", "text": "Rule two.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
            {"role": "assistant", "content": ""},  # an empty turn: Anthropic refuses it, so it is dropped
            {"role": "user", "content": "third", "cache_control": {"type": "ephemeral"}},  # LiteLLM's convention
        ])
        body = sent(upstream)
        assert body["system"] == [{"type": "text", "text": "Rule one."},
                                  {"type": "text", "text": "Rule two.", "cache_control": {"type": "ephemeral"}}]
        assert body["messages"] == [{"role": "user", "content": [
            {"type": "text", "text": "first"}, {"type": "text", "text": "second"},
            {"type": "text", "text": "third", "cache_control": {"type": "ephemeral"}}]}]
        assert body["max_tokens"] == 4096, "Anthropic requires max_tokens: the default is sent"

    def test_stop_reasons_map_to_finish_reasons(self, claude, upstream):
        cut = claude.chat.completions.create(model="claude", messages=USER, max_completion_tokens=2)
        assert sent(upstream)["max_tokens"] == 2
        assert cut.choices[0].finish_reason == "length" and cut.choices[0].message.content == "Hello w1"

        stopped = claude.chat.completions.create(model="claude", messages=USER, stop=[" w3", "never"])
        assert sent(upstream)["stop_sequences"] == [" w3", "never"]
        assert stopped.choices[0].finish_reason == "stop" and stopped.choices[0].message.content == "Hello w1 w2"

    def test_json_schema_response_format_becomes_structured_output(self, claude, upstream):
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
                  "additionalProperties": False}
        claude.chat.completions.create(model="claude", messages=USER, response_format={
            "type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}})
        assert sent(upstream)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}

        claude.chat.completions.create(model="claude", messages=USER, response_format={"type": "json_object"})
        assert "output_config" not in sent(upstream)

    def test_images_and_pdfs_in_user_content(self, claude, upstream):
        claude.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PNG}"}},
        ]}])
        assert sent(upstream)["messages"][0]["content"] == [
            {"type": "text", "text": "What is in these?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PNG}},
        ]

    def test_unsupported_content_or_n_is_refused_before_the_upstream(self, claude, upstream):
        before = len(upstream.requests)
        with pytest.raises(openai.BadRequestError) as caught:
            claude.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": PNG, "format": "wav"}}]}])
        assert caught.value.code == "unsupported_parameter"
        with pytest.raises(openai.BadRequestError) as caught:
            claude.chat.completions.create(model="claude", messages=USER, n=2)
        assert caught.value.body["param"] == "n"
        assert len(upstream.requests) == before

    def test_thinking_from_reasoning_effort(self, claude, upstream):
        reply = claude.chat.completions.create(model="thinking", messages=USER, reasoning_effort="low")
        body = sent(upstream)
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert body["max_tokens"] == 1024 + 4096, "room for the answer beyond the thinking budget"
        message = reply.choices[0].message
        assert message.content == ANSWER
        assert message.model_extra["reasoning_content"] == "Let me think."
        assert message.model_extra["thinking_blocks"] == [
            {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAhIM-fake-signature"}]
        assert reply.usage.completion_tokens == 8 and reply.usage.completion_tokens_details.reasoning_tokens == 3


class TestTools:
    def test_tool_definitions_choice_and_call(self, claude, upstream):
        reply = claude.chat.completions.create(model="claude", messages=USER, tools=[WEATHER],
                                               tool_choice="auto", parallel_tool_calls=False)
        body = sent(upstream)
        assert body["tools"] == [{"name": "get_weather", "description": "Weather of a city",
                                  "input_schema": WEATHER["function"]["parameters"]}]
        assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert message.content == "Let me check."
        call = message.tool_calls[0]
        assert (call.id, call.type, call.function.name) == ("toolu_01FakeToolUse", "function", "get_weather")
        assert call.function.arguments == '{"city":"Paris"}'

    @pytest.mark.parametrize(("choice", "expected"), [
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ("none", {"type": "none"}),
    ])
    def test_tool_choice_mapping(self, claude, upstream, choice, expected):
        reply = claude.chat.completions.create(model="claude", messages=USER, tools=[WEATHER], tool_choice=choice)
        assert sent(upstream)["tool_choice"] == expected
        assert reply.choices[0].finish_reason == ("stop" if choice == "none" else "tool_calls")

    def test_tool_results_go_back_as_user_tool_result_blocks(self, claude, upstream):
        reply = claude.chat.completions.create(model="claude", tools=[WEATHER], messages=[
            *USER,
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": PARIS}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": ROME}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "rainy"}]},
            {"role": "user", "content": "thanks"},
        ])
        assert sent(upstream)["messages"][1:] == [
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "rainy"}]},
                {"type": "text", "text": "thanks"}]},
        ]
        assert reply.choices[0].message.content == ANSWER and reply.choices[0].finish_reason == "stop"

    def test_streamed_tool_call_assembles(self, claude, upstream):
        chunks = list(claude.chat.completions.create(model="claude", messages=USER, tools=[WEATHER], stream=True))
        assert sent(upstream)["stream"] is True
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        pieces = [call for d in deltas for call in d.tool_calls or ()]
        assert (pieces[0].index, pieces[0].id, pieces[0].function.name) == (0, "toolu_01FakeToolUse", "get_weather")
        assert "".join(p.function.arguments or "" for p in pieces) == '{"city": "Paris"}'
        assert "".join(d.content or "" for d in deltas) == "Let me check."
        assert chunks[-1].choices[0].finish_reason == "tool_calls"


class TestStreaming:
    def test_text_stream_with_role_first_and_no_usage_chunk_unless_asked(self, claude, upstream):
        chunks = list(claude.chat.completions.create(model="claude", messages=USER, stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == ANSWER
        assert all(c.choices for c in chunks), "no usage-only chunk for a client that did not ask"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert {c.id for c in chunks} == {"msg_01FakeMessage"} and {c.model for c in chunks} == {"claude-sonnet-4-5"}
        assert all(c.object == "chat.completion.chunk" for c in chunks)

    async def test_usage_chunk_when_asked_and_the_ledger_row(self, claude, upstream, db):
        raw = claude.chat.completions.with_raw_response.create(
            model="claude", messages=USER, stream=True, stream_options={"include_usage": True})
        chunks = list(raw.parse())
        assert "stream_options" not in sent(upstream)
        assert chunks[-1].choices == []
        assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 5)
        assert chunks[-2].choices[0].finish_reason == "stop"

        row = (await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1))[0]
        assert (row["prompt_tokens"], row["completion_tokens"], row["usage_estimated"]) == (5, 5, False)
        assert (row["provider"], row["upstream_model"], row["stream"], row["status"]) == (
            "anthropic", "claude-sonnet-4-5", True, "success")

    def test_sse_ends_with_done_and_thinking_streams_as_reasoning(self, api, claude, upstream):
        body = {"model": "thinking", "messages": USER, "stream": True, "max_tokens": 3000,
                "thinking": {"type": "enabled", "budget_tokens": 2000}}
        with httpx.stream("POST", f"{api.url}/v1/chat/completions", timeout=10, json=body,
                          headers={"authorization": f"Bearer {claude.api_key}"}) as response:
            lines = [line for line in response.iter_lines() if line]
        assert sent(upstream)["thinking"] == {"type": "enabled", "budget_tokens": 2000}
        assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
        chunks = [httpx.Response(200, content=line[6:]).json() for line in lines[:-1]]
        reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks)
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert (reasoning, content) == ("Let me think.", ANSWER)

    @pytest.mark.parametrize("model", ["stream-error", "stream-cut"])
    async def test_broken_upstream_stream_ends_with_the_gateways_error_event(self, claude, db, model):
        raw = claude.chat.completions.with_raw_response.create(model=model, messages=USER, stream=True)
        received = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in raw.parse():
                received.append(chunk)
        assert "upstream stream failed" in str(caught.value)
        assert "".join(c.choices[0].delta.content or "" for c in received) == "Hello"
        row = (await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1))[0]
        assert row["status"] == "error"

    async def test_dropped_client_cancels_the_upstream_stream(self, api, claude, upstream):
        import asyncio
        import time

        before = upstream.state.cancelled_streams
        async with httpx.AsyncClient(timeout=30) as client, client.stream(
                "POST", f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {claude.api_key}"},
                json={"model": "slow", "stream": True, "messages": USER}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content":"Hello"' in line:
                    break  # the client goes away mid-stream
        deadline = time.monotonic() + 5
        while upstream.state.cancelled_streams == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert upstream.state.cancelled_streams == before + 1


class TestUsage:
    async def test_prompt_cache_writes_then_reads_are_counted_and_priced(self, claude, upstream, db):
        messages = [{"role": "system", "content": [
            {"type": "text", "text": "A long shared instruction " * 20, "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": f"question {uuid.uuid4().hex}"}]
        first = claude.chat.completions.with_raw_response.create(model="claude", messages=messages)
        second = claude.chat.completions.with_raw_response.create(model="claude", messages=messages)
        written, read = first.parse().usage, second.parse().usage
        # The fake: 80 system words cached; 2 user words + 3 per message uncached; 5 words answered.
        assert (written.prompt_tokens, written.prompt_tokens_details.cached_tokens) == (85, 0)
        assert written.prompt_tokens_details.cache_write_tokens == 80
        assert (read.prompt_tokens, read.prompt_tokens_details.cached_tokens) == (85, 80)
        assert read.prompt_tokens_details.cache_write_tokens == 0

        rows = {}
        for raw in (first, second):
            rows[raw] = (await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1))[0]
        write_row, read_row = rows[first], rows[second]
        assert (write_row["prompt_tokens"], write_row["cached_tokens"], write_row["cache_write_tokens"]) == (85, 0, 80)
        assert (read_row["prompt_tokens"], read_row["cached_tokens"], read_row["cache_write_tokens"]) == (85, 80, 0)
        # claude-sonnet-4-5 list prices per token: input 3e-6, output 15e-6, cache read 3e-7, cache write 3.75e-6.
        output = 5 * Decimal("0.000015")
        assert write_row["provider_cost"] == 5 * Decimal("0.000003") + 80 * Decimal("0.00000375") + output
        assert read_row["provider_cost"] == 5 * Decimal("0.000003") + 80 * Decimal("0.0000003") + output


class TestErrors:
    def test_vendor_400_passes_through_with_its_message(self, claude):
        with pytest.raises(openai.BadRequestError) as caught:
            claude.chat.completions.create(model="bad-request", messages=USER)
        assert caught.value.body["message"] == "Fake upstream error 400"

    def test_embeddings_are_400_anthropic_has_none(self, claude, upstream):
        before = len(upstream.requests)
        with pytest.raises(openai.BadRequestError) as caught:
            claude.embeddings.create(model="claude", input="hello")
        assert caught.value.code == "unsupported_capability" and len(upstream.requests) == before

    def test_429_is_429_with_retry_after(self, claude):
        with pytest.raises(openai.RateLimitError) as caught:
            claude.chat.completions.create(model="rate-limited", messages=USER)
        assert caught.value.response.headers["retry-after"] == "7"

    @pytest.mark.parametrize("model", ["server-error", "overloaded"])
    def test_5xx_and_overloaded_are_502(self, claude, model):
        with pytest.raises(openai.APIStatusError) as caught:
            claude.chat.completions.create(model=model, messages=USER)
        assert caught.value.status_code == 502 and caught.value.code == "upstream_error"

    def test_auth_failure_is_502_without_credentials(self, claude):
        with pytest.raises(openai.APIStatusError) as caught:
            claude.chat.completions.create(model="wrong-key", messages=USER)
        assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_failed"
        assert "sk-ant-not-the-right-key" not in caught.value.response.text

    def test_vendor_message_quoting_the_key_is_scrubbed(self, claude):
        with pytest.raises(openai.BadRequestError) as caught:
            claude.chat.completions.create(model="echo-key", messages=USER)
        assert CANARY_PROVIDER_KEY not in caught.value.response.text

    @pytest.mark.parametrize("model", ["too-long", "context-limit"])
    def test_context_window_errors_are_400_context_length_exceeded(self, claude, model):
        with pytest.raises(openai.BadRequestError) as caught:
            claude.chat.completions.create(model=model, messages=USER)
        assert caught.value.code == "context_length_exceeded"
        assert "200000" in caught.value.body["message"]


# Native Messages API, on the adapter itself (the gateway's /v1/messages route is someone else's).

def deployment(upstream: FakeAnthropic, api_base: str | None = None, api_key: str = CANARY_PROVIDER_KEY) -> Deployment:
    return Deployment(id=uuid.uuid4(), account_id=uuid.uuid4(), model_name="claude", provider="anthropic",
                      upstream_model="claude-sonnet-4-5", api_base=api_base or upstream.base_url, api_key=api_key)


BETA = "prompt-caching-2024-07-31"
NATIVE = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "say hello"}]}


class TestNative:
    async def test_messages_returns_anthropic_json_with_usage(self, upstream):
        async with httpx.AsyncClient() as client:
            reply = await Anthropic().messages(client, deployment(upstream), dict(NATIVE), beta=BETA)
        request = upstream.requests[-1]
        assert request.body == NATIVE and request.headers["anthropic-beta"] == BETA
        body = httpx.Response(200, content=reply.body).json()
        assert body["type"] == "message" and body["content"] == [{"type": "text", "text": ANSWER}]
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 5)

    async def test_stream_messages_relays_the_vendors_events_unchanged(self, upstream):
        async with httpx.AsyncClient() as client:
            headers = {"x-api-key": CANARY_PROVIDER_KEY, "anthropic-version": "2023-06-01"}
            async with client.stream("POST", f"{upstream.base_url}/v1/messages", json={**NATIVE, "stream": True},
                                     headers=headers) as direct:
                expected = (await direct.aread()).split(b"\n\n")
            stream = await Anthropic().stream_messages(client, deployment(upstream), dict(NATIVE))
            try:
                events = [event async for event in stream.events()]
            finally:
                await stream.aclose()
        assert upstream.requests[-1].body == {**NATIVE, "stream": True}
        assert b"".join(events).split(b"\n\n") == expected
        names = [event.split(b"\n")[0] for event in events]
        assert names[:3] == [b"event: message_start", b"event: content_block_start", b"event: ping"]
        assert names[-2:] == [b"event: message_delta", b"event: message_stop"]
        assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (5, 5)

    async def test_stream_messages_passes_an_error_event_on(self, upstream):
        async with httpx.AsyncClient() as client:
            body = {**NATIVE, "model": "stream-error-x"}
            stream = await Anthropic().stream_messages(client, deployment(upstream), body)
            events = [event async for event in stream.events()]
            await stream.aclose()
        assert events[-1].startswith(b"event: error\n") and stream.error_type == "overloaded_error"

    async def test_count_tokens_drops_generation_settings(self, upstream):
        async with httpx.AsyncClient() as client:
            counted = await Anthropic().count_tokens(client, deployment(upstream), {**NATIVE, "temperature": 0.3})
        request = upstream.requests[-1]
        assert request.path == "/v1/messages/count_tokens"
        assert request.body == {"model": "claude-sonnet-4-5", "messages": NATIVE["messages"]}
        assert counted == {"input_tokens": 5}

    @pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/messages"])
    async def test_api_base_may_carry_the_version_path(self, upstream, suffix):
        async with httpx.AsyncClient() as client:
            await Anthropic().messages(client, deployment(upstream, upstream.base_url + suffix), dict(NATIVE))
        assert upstream.requests[-1].path == "/v1/messages"

    async def test_errors_map_like_chat(self, upstream):
        adapter = Anthropic()
        async with httpx.AsyncClient() as client:
            with pytest.raises(InvalidRequest) as caught:
                await adapter.messages(client, deployment(upstream), {**NATIVE, "model": "too-long"})
            assert caught.value.code == "context_length_exceeded"
            with pytest.raises(InvalidRequest) as caught:
                await adapter.messages(client, deployment(upstream), {**NATIVE, "max_tokens": None})
            assert "max_tokens" in caught.value.message
            with pytest.raises(RateLimited):
                await adapter.stream_messages(client, deployment(upstream), {**NATIVE, "model": "error-429"})
            with pytest.raises(UpstreamFailed) as caught:
                await adapter.count_tokens(client, deployment(upstream, api_key="sk-ant-wrong"), dict(NATIVE))
            assert caught.value.code == "upstream_auth_failed"
