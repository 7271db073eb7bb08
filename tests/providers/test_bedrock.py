"""Bedrock (Converse / ConverseStream) through the real gateway with the openai SDK, against a fake
Bedrock that verifies SigV4 signatures and speaks the binary event stream; plus unit checks of the
signer (AWS's published example) and of the event-stream decoder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest

from app.providers.bedrock.eventstream import EventStreamDecoder, EventStreamError
from app.providers.bedrock.signing import AwsCredentials, authorization, canonical_request, signing_key
from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.bedrock_upstream import TOOL_PREFACE, FakeBedrock, encode_frame, event_frame, exception_frame
from tests.support.ledger import wait_for_rows

ACCESS_KEY_ID = "AKIAFAKE" + uuid.uuid4().hex[:12].upper()
SESSION_TOKEN = "session-token-" + uuid.uuid4().hex
BEDROCK_API_KEY = "bedrock-api-key-" + uuid.uuid4().hex
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
IN_PRICE, OUT_PRICE = Decimal("0.000003"), Decimal("0.000015")
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


@pytest.fixture(scope="module")
def bedrock():
    with FakeBedrock(access_key_id=ACCESS_KEY_ID, secret_access_key=CANARY_PROVIDER_KEY, region="us-east-1",
                     api_key=BEDROCK_API_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def session_bedrock():
    with FakeBedrock(access_key_id=ACCESS_KEY_ID, secret_access_key=CANARY_PROVIDER_KEY, region="eu-west-3",
                     session_token=SESSION_TOKEN) as fake:
        yield fake


def deploy(admin, account_id: str, name: str, model_id: str, fake: FakeBedrock, **params) -> None:
    litellm = {"model": f"bedrock/{model_id}", "api_base": fake.url, "aws_region_name": "us-east-1",
               "aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": CANARY_PROVIDER_KEY, **params}
    admin.ok("POST", "/model/new", account_id, json={
        "model_name": name, "litellm_params": {k: v for k, v in litellm.items() if v is not None},
        "model_info": {"input_cost_per_token": float(IN_PRICE), "output_cost_per_token": float(OUT_PRICE)}})


@pytest.fixture(scope="module")
def client(api, admin, bedrock, session_bedrock) -> openai.OpenAI:
    account_id = admin.create_account(f"bedrock-{uuid.uuid4().hex[:8]}")
    for name in ("claude", "cache", "guardrail", "context-window", "stream-exception", "stream-truncated",
                 "slow-200", "error-400", "error-403", "error-429", "error-500", "error-503"):
        deploy(admin, account_id, name, CLAUDE if name == "claude" else name, bedrock)
    deploy(admin, account_id, "titan", "amazon.titan-embed-text-v2:0", bedrock)
    deploy(admin, account_id, "claude-session", CLAUDE, session_bedrock, aws_region_name="eu-west-3",
           aws_session_token=SESSION_TOKEN)
    deploy(admin, account_id, "claude-wrong-secret", CLAUDE, bedrock, aws_secret_access_key="wrong-" + CANARY_PROVIDER_KEY)
    deploy(admin, account_id, "claude-api-key", CLAUDE, bedrock, aws_access_key_id=None, aws_secret_access_key=None,
           api_key=BEDROCK_API_KEY)
    deploy(admin, account_id, "claude-no-region", CLAUDE, bedrock, aws_region_name=None)
    key = admin.generate_key(account_id)["key"]
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0)


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


async def test_sync_chat_sends_a_signed_converse_request_and_maps_the_reply(client, bedrock, db):
    raw = client.chat.completions.with_raw_response.create(
        model="claude", max_tokens=100, temperature=0.2, top_p=0.9, stop=["zzz"],
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello please"}])
    reply = raw.parse()

    assert reply.choices[0].message.content == "Hello from Bedrock Converse"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.model == CLAUDE
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (6, 4, 10)
    sent = bedrock.requests[-1]
    assert sent.raw_path == b"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert sent.body == {
        "system": [{"text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"text": "say hello please"}]}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["zzz"]},
    }
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{_today()}/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=")
    assert sent.headers["x-amz-content-sha256"] == hashlib.sha256(sent.raw_body).hexdigest()
    assert sent.headers["content-type"] == "application/json" and "x-amz-security-token" not in sent.headers

    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"], rows[0]["provider"]) == (6, 4, "bedrock")
    assert rows[0]["provider_cost"] == 6 * IN_PRICE + 4 * OUT_PRICE


def test_session_token_is_sent_and_signed(client, session_bedrock):
    reply = client.chat.completions.create(model="claude-session", messages=[{"role": "user", "content": "hi"}])

    assert reply.choices[0].message.content == "Hello from Bedrock Converse"
    sent = session_bedrock.requests[-1]
    assert sent.headers["x-amz-security-token"] == SESSION_TOKEN
    assert "/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," \
        in sent.headers["authorization"]


def test_a_wrong_secret_is_refused_by_bedrock_and_becomes_502_without_credentials(client, bedrock):
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude-wrong-secret", messages=[{"role": "user", "content": "hi"}])

    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_failed"
    text = json.dumps(caught.value.body)
    assert CANARY_PROVIDER_KEY not in text and ACCESS_KEY_ID not in text and "signature" not in text.lower()


def test_a_bedrock_api_key_is_sent_as_bearer_token(client, bedrock):
    reply = client.chat.completions.create(model="claude-api-key", messages=[{"role": "user", "content": "hi"}])

    assert reply.choices[0].message.content == "Hello from Bedrock Converse"
    sent = bedrock.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {BEDROCK_API_KEY}" and "x-amz-date" not in sent.headers


def test_a_deployment_without_region_is_a_clear_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-no-region", messages=[{"role": "user", "content": "hi"}])
    assert "aws_region_name" in caught.value.message


class TestStreaming:
    def test_text_stream_without_usage_chunk(self, client, bedrock):
        chunks = list(client.chat.completions.create(model="claude", stream=True,
                                                     messages=[{"role": "user", "content": "say hello"}]))

        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Bedrock Converse"
        assert all(c.choices for c in chunks), "no usage chunk for a client that did not ask"
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
        sent = bedrock.requests[-1]
        assert sent.raw_path.endswith(b"%3A0/converse-stream")
        assert sent.headers["accept"] == "application/vnd.amazon.eventstream"
        assert sent.body == {"messages": [{"role": "user", "content": [{"text": "say hello"}]}]}

    async def test_usage_chunk_with_cache_tokens_when_asked_and_in_the_ledger(self, client, db):
        raw = client.chat.completions.with_raw_response.create(
            model="cache", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "say hello"}])
        chunks = list(raw.parse())

        usage = chunks[-1].usage
        assert chunks[-1].choices == []
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (122, 4, 126)
        assert usage.prompt_tokens_details.cached_tokens == 100
        assert chunks[-2].choices[0].finish_reason == "stop"
        rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
        row = rows[0]
        assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (122, 4, 100, 20)
        assert row["stream"] is True and row["status"] == "success" and row["usage_estimated"] is False

    def test_sync_usage_counts_cache_reads_and_writes_in_prompt_tokens(self, client):
        reply = client.chat.completions.create(model="cache", messages=[{"role": "user", "content": "say hello"}])
        assert reply.usage.prompt_tokens == 2 + 100 + 20
        assert reply.usage.prompt_tokens_details.cached_tokens == 100

    async def test_exception_frame_mid_stream_ends_with_an_error(self, client, db):
        raw = client.chat.completions.with_raw_response.create(
            model="stream-exception", stream=True, messages=[{"role": "user", "content": "say hello"}])
        received = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in raw.parse():
                received.append(chunk.choices[0].delta.content or "")
        assert "".join(received) == "Hello from"
        assert caught.value.body["code"] == "upstream_stream_error"
        rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
        assert rows[0]["status"] == "error"

    def test_a_stream_cut_mid_frame_is_an_error_not_a_clean_end(self, client):
        with pytest.raises(openai.APIError):
            list(client.chat.completions.create(model="stream-truncated", stream=True,
                                                messages=[{"role": "user", "content": "say hello"}]))

    async def test_dropped_client_closes_the_upstream_stream(self, api, client, bedrock):
        before = bedrock.state.cancelled_streams
        async with httpx.AsyncClient(timeout=30) as http:
            async with http.stream("POST", f"{api.url}/v1/chat/completions",
                                   headers={"authorization": f"Bearer {client.api_key}"},
                                   json={"model": "slow-200", "stream": True,
                                         "messages": [{"role": "user", "content": "a long story"}]}) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        break
        deadline = time.monotonic() + 5
        while bedrock.state.cancelled_streams == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert bedrock.state.cancelled_streams == before + 1


class TestTools:
    def test_tool_definitions_and_a_tool_call(self, client, bedrock):
        reply = client.chat.completions.create(model="claude", tools=[WEATHER_TOOL], tool_choice="auto",
                                               messages=[{"role": "user", "content": "weather in Paris?"}])

        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert message.content == TOOL_PREFACE
        call = message.tool_calls[0]
        assert (call.id, call.type, call.function.name) == ("tooluse_fake1", "function", "get_weather")
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        assert bedrock.requests[-1].body["toolConfig"] == {
            "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather of a city",
                                    "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]}}}],
            "toolChoice": {"auto": {}},
        }

    def test_streamed_tool_call_arguments_are_assembled(self, client):
        chunks = list(client.chat.completions.create(
            model="claude", tools=[WEATHER_TOOL], stream=True, messages=[{"role": "user", "content": "weather?"}]))

        deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
        assert (deltas[0].id, deltas[0].function.name, deltas[0].index) == ("tooluse_fake1", "get_weather", 0)
        assert "".join(d.function.arguments or "" for d in deltas) == '{"city": "Paris"}'
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TOOL_PREFACE
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

    def test_tool_results_go_back_as_tool_use_and_tool_result_blocks(self, client, bedrock):
        messages = [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
        ]
        reply = client.chat.completions.create(model="claude", tools=[WEATHER_TOOL], messages=messages,
                                               tool_choice={"type": "function", "function": {"name": "get_weather"}})

        assert reply.choices[0].finish_reason == "stop"
        sent = bedrock.requests[-1].body
        assert sent["messages"] == [
            {"role": "user", "content": [{"text": "weather in Paris?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Lyon"}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "rainy"}]}}]},
        ]
        assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}

    def test_required_tool_choice_is_any(self, client, bedrock):
        client.chat.completions.create(model="claude", tools=[WEATHER_TOOL], tool_choice="required",
                                       messages=[{"role": "user", "content": "weather?"}])
        assert bedrock.requests[-1].body["toolConfig"]["toolChoice"] == {"any": {}}


def test_images_go_inline_as_image_blocks(client, bedrock):
    reply = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}])

    assert reply.choices[0].message.content
    assert bedrock.requests[-1].body["messages"][0]["content"] == [
        {"text": "what is this?"}, {"image": {"format": "png", "source": {"bytes": PIXEL}}}]


def test_remote_image_urls_are_refused_before_reaching_bedrock(client, bedrock):
    count = len(bedrock.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "data: URL" in caught.value.message and len(bedrock.requests) == count


class TestStopReasons:
    def test_max_tokens_is_length(self, client):
        reply = client.chat.completions.create(model="claude", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
        assert (reply.choices[0].finish_reason, reply.choices[0].message.content) == ("length", "Hello from")

    def test_max_tokens_is_length_when_streamed(self, client):
        chunks = list(client.chat.completions.create(model="claude", max_tokens=2, stream=True,
                                                     messages=[{"role": "user", "content": "hi"}]))
        assert chunks[-1].choices[0].finish_reason == "length"

    def test_stop_sequence_is_stop(self, client):
        reply = client.chat.completions.create(model="claude", stop="Bedrock", messages=[{"role": "user", "content": "hi"}])
        assert (reply.choices[0].finish_reason, reply.choices[0].message.content) == ("stop", "Hello from ")

    def test_guardrail_is_content_filter(self, client):
        reply = client.chat.completions.create(model="guardrail", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].finish_reason == "content_filter"


class TestErrors:
    def test_validation_error_passes_through_as_400(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="error-400", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["message"] == "Fake Bedrock error 400"

    def test_throttling_is_429(self, client):
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="error-429", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "upstream_rate_limited"

    def test_throttling_before_a_stream_is_429(self, client):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="error-429", stream=True, messages=[{"role": "user", "content": "hi"}])

    @pytest.mark.parametrize("model", ["error-500", "error-503"])
    def test_server_errors_are_502(self, client, model):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 502 and caught.value.code == "upstream_error"

    def test_access_denied_is_502(self, client):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="error-403", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "upstream_auth_failed"

    def test_input_too_long_is_context_length_exceeded(self, client):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="context-window", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "context_length_exceeded"
        assert caught.value.body["message"] == "Input is too long for requested model."


def test_titan_embeddings_float_and_base64(client, bedrock):
    floats = client.embeddings.create(model="titan", input=["one two", "three"], dimensions=256, encoding_format="float")

    assert [len(item.embedding) for item in floats.data] == [256, 256]
    assert [item.index for item in floats.data] == [0, 1]
    assert floats.usage.prompt_tokens == 3
    bodies = sorted((r.body["inputText"], r.body.get("dimensions")) for r in bedrock.requests[-2:])
    assert bodies == [("one two", 256), ("three", 256)]
    assert all(r.raw_path == b"/model/amazon.titan-embed-text-v2%3A0/invoke" for r in bedrock.requests[-2:])

    decoded = client.embeddings.create(model="titan", input="one two", dimensions=256)  # the SDK asks for base64
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


# --- units: the signer against AWS's published example, the decoder against independently encoded frames ---

def test_sigv4_matches_aws_published_example():
    """AWS's "Signature Version 4" worked example (IAM ListUsers, 2015-08-30)."""
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    url = httpx.URL("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8", "host": "iam.amazonaws.com",
               "x-amz-date": "20150830T123600Z"}
    empty = hashlib.sha256(b"").hexdigest()

    canonical, _ = canonical_request("GET", url, headers, empty)
    assert hashlib.sha256(canonical.encode()).hexdigest() == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    assert signing_key(credentials.secret_access_key, "20150830", "us-east-1", "iam").hex() == \
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    assert authorization(credentials, "us-east-1", "iam", "GET", url, headers, empty, "20150830T123600Z") == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


def test_sigv4_signs_the_model_id_encoded_twice():
    url = httpx.URL("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-v2%3A1/converse")
    canonical, _ = canonical_request("POST", url, {"host": url.host}, hashlib.sha256(b"{}").hexdigest())
    assert canonical.splitlines()[1] == "/model/anthropic.claude-v2%253A1/converse"


def test_decoder_reassembles_frames_fed_byte_by_byte():
    stream = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo"}}) + \
        exception_frame("throttlingException", "slow down")
    decoder = EventStreamDecoder()
    messages = [message for byte in stream for message in decoder.feed(bytes([byte]))]

    assert [m.event_type for m in messages] == ["contentBlockDelta", None]
    assert json.loads(messages[0].payload)["delta"] == {"text": "héllo"}
    assert messages[0].headers[":content-type"] == "application/json" and messages[0].message_type == "event"
    assert (messages[1].message_type, messages[1].exception_type) == ("exception", "throttlingException")
    assert decoder.pending == 0


@pytest.mark.parametrize("position", ["prelude", "message"])
def test_decoder_refuses_a_corrupted_frame(position):
    frame = bytearray(encode_frame({":message-type": "event", ":event-type": "messageStop"}, b'{"stopReason":"end_turn"}'))
    if position == "prelude":
        frame[0:4] = (len(frame) + 1).to_bytes(4, "big")  # the prelude CRC no longer matches
    else:
        frame[-6] ^= 0xFF  # a payload byte flipped: the message CRC no longer matches
    assert zlib.crc32(bytes(frame[:-4])) != int.from_bytes(frame[-4:], "big")
    with pytest.raises(EventStreamError):
        list(EventStreamDecoder().feed(bytes(frame)))
