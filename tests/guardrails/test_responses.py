"""Guardrails on the models' answers (`scan_responses`): whole answers masked in every format, streams
masked event by event — every event still well-formed, the client's concatenation the masked text even
when the secret is split across chunks — and an answer blocked on output never reaches the client."""

from __future__ import annotations

import asyncio
import time
import uuid

import anthropic
import httpx
import msgspec
import openai
import pytest

from app.guardrails.policy import AccountGuardrails, GuardSettings
from app.guardrails.scanner import build_scanner
from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.guardrails.conftest import email

_PII = build_scanner(AccountGuardrails(pii=GuardSettings(enabled=True)))


def expected(text: str) -> str:
    """What the engine makes of the whole text: every streamed answer must add up to exactly this."""
    verdict = _PII.scan(text)
    assert verdict is not None and verdict.text != text
    return verdict.text


def _openai(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def _events(raw: bytes) -> list[tuple[str | None, dict | None]]:
    """(event name, decoded data) of each SSE event; `data: [DONE]` is (None, None). Fails on bad JSON."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name = next((line[7:] for line in block.split("\n") if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
        out.append((name, None) if data == "[DONE]" else (name, msgspec.json.decode(data)))
    return out


def _stream(url: str, path: str, key: str, body: dict, headers: dict | None = None) -> bytes:
    response = httpx.post(f"{url}{path}", json={**body, "stream": True}, timeout=30,
                          headers={"authorization": f"Bearer {key}", **(headers or {})})
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def claude_upstream():
    with FakeAnthropic(api_key=CANARY_PROVIDER_KEY) as upstream:
        yield upstream


@pytest.fixture
def answering(guarded, scripted):
    """PII masked on prompts and answers; the upstream answers ~900 characters in 3-character chunks, with
    an address in the middle: the masker releases text before the end, and the address spans chunks."""
    guarded.guard("pii")
    guarded.scan_responses()
    address = email()
    scripted.state.reply = f"Sure. {'Some words before it. ' * 20}Write to {address} before noon. {'And after. ' * 40}"
    scripted.state.piece = 3
    return address, expected(scripted.state.reply)


def test_whole_answers_are_masked_in_every_format(api, admin, guarded, answering, claude_upstream):
    address, masked = answering
    client = _openai(api.url, guarded.key)
    chat = [{"role": "user", "content": "who do I write to?"}]
    assert client.chat.completions.create(model="gpt", messages=chat).choices[0].message.content == masked
    assert client.completions.create(model="gpt", prompt="who?").choices[0].text == masked
    assert client.responses.create(model="gpt", input="who?").output_text == masked  # native
    assert client.responses.create(model="vllm", input="who?").output_text == masked  # translated
    claude = anthropic.Anthropic(base_url=api.url, api_key=guarded.key, max_retries=0)
    assert claude.messages.create(model="vllm", max_tokens=50, messages=chat).content[0].text == masked

    admin.add_model(guarded.account_id, "claude", claude_upstream.base_url, upstream="anthropic/claude-sonnet-4-5",
                    api_key=CANARY_PROVIDER_KEY)
    claude_upstream.state.name = address  # its answer: "Hello w1 w2 w3 w4 from <name>"
    native = claude.messages.create(model="claude", max_tokens=50, messages=chat)
    assert native.content[0].text == expected(f"Hello w1 w2 w3 w4 from {address}")


def test_chat_and_completion_streams(api, guarded, answering):
    address, masked = answering
    body = {"model": "gpt", "messages": [{"role": "user", "content": "who?"}], "stream_options": {"include_usage": True}}
    raw = _stream(api.url, "/v1/chat/completions", guarded.key, body)
    assert address.encode() not in raw
    events = _events(raw)
    assert events[-1] == (None, None), "the stream still ends with [DONE]"
    chunks = [data for _, data in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == masked
    flowing = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(flowing) > 1, "text flows while the stream runs, not only at its end"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9, "usage chunk kept"

    sdk = _openai(api.url, guarded.key).chat.completions.create(
        model="gpt", stream=True, messages=[{"role": "user", "content": "who?"}])
    assert "".join(chunk.choices[0].delta.content or "" for chunk in sdk if chunk.choices) == masked

    raw = _stream(api.url, "/v1/completions", guarded.key, {"model": "gpt", "prompt": "who?"})
    assert address.encode() not in raw
    chunks = [data for _, data in _events(raw)[:-1]]
    assert all(chunk["object"] == "text_completion" for chunk in chunks)
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks) == masked


@pytest.mark.parametrize("model", ["gpt", "vllm"])  # native events, then translated from chat
def test_responses_streams(api, guarded, answering, model):
    address, masked = answering
    raw = _stream(api.url, "/v1/responses", guarded.key, {"model": model, "input": "who?"})
    assert address.encode() not in raw
    events = _events(raw)
    assert all(name == data["type"] for name, data in events)
    numbers = [data["sequence_number"] for _, data in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "sequence numbers stay consecutive"
    deltas = "".join(data["delta"] for _, data in events if data["type"] == "response.output_text.delta")
    assert deltas == masked
    done = next(data for _, data in events if data["type"] == "response.output_text.done")
    assert done["text"] == masked
    final = events[-1][1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"][0]["content"][0]["text"] == masked

    with _openai(api.url, guarded.key).responses.stream(model=model, input="who?") as stream:
        assert stream.get_final_response().output_text == masked


def test_messages_streams_native_and_translated(api, admin, guarded, answering, claude_upstream):
    address, masked = answering
    admin.add_model(guarded.account_id, "claude", claude_upstream.base_url, upstream="anthropic/claude-sonnet-4-5",
                    api_key=CANARY_PROVIDER_KEY)
    claude_upstream.state.name = address
    cases = (("vllm", masked), ("claude", expected(f"Hello w1 w2 w3 w4 from {address}")))
    client = anthropic.Anthropic(base_url=api.url, api_key=guarded.key, max_retries=0)
    for model, text in cases:
        body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "who?"}]}
        raw = _stream(api.url, "/v1/messages", guarded.key, body, {"anthropic-version": "2023-06-01"})
        assert address.encode() not in raw
        events = _events(raw)
        assert all(name == data["type"] for name, data in events)
        assert [name for name, _ in events][-1] == "message_stop"
        deltas = "".join(data["delta"]["text"] for name, data in events
                         if name == "content_block_delta" and data["delta"]["type"] == "text_delta")
        assert deltas == text, model
        with client.messages.stream(model=model, max_tokens=50, messages=body["messages"]) as stream:
            assert stream.get_final_message().content[0].text == text


async def test_a_block_on_output_never_returns_the_text(api, guarded, scripted, db):
    guarded.guard("pii", action="block")
    guarded.scan_responses()
    address = email()
    scripted.state.reply, scripted.state.piece = f"Sure: write to {address} before noon.", 3
    client = _openai(api.url, guarded.key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "who?"}])
    assert caught.value.body["code"] == "guardrail_blocked" and "model's answer" in caught.value.message
    assert address not in caught.value.response.text

    raw = _stream(api.url, "/v1/chat/completions", guarded.key,
                  {"model": "gpt", "messages": [{"role": "user", "content": "who?"}]})
    assert address.encode() not in raw
    events = _events(raw)
    assert events[-1][1]["error"]["code"] == "guardrail_blocked", "the stream ends with an error event"
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt", stream=True,
                                                messages=[{"role": "user", "content": "who?"}]):
            pass

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = await db.fetch("SELECT * FROM guardrails_audit_log WHERE account_id = $1",
                              uuid.UUID(guarded.account_id))
        if len(rows) >= 3:
            break
        await asyncio.sleep(0.1)
    assert [(r["guard_type"], r["name"], r["action"], r["direction"]) for r in rows] == [
        ("pii", "email", "block", "output")] * 3


def test_answers_are_untouched_without_scan_responses(api, guarded, scripted):
    guarded.guard("pii")
    address = email()
    scripted.state.reply = f"Sure: write to {address} before noon."
    client = _openai(api.url, guarded.key)
    assert client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "who?"}]).choices[0].message.content == scripted.state.reply
    raw = _stream(api.url, "/v1/chat/completions", guarded.key,
                  {"model": "gpt", "messages": [{"role": "user", "content": "who?"}]})
    chunks = [data for _, data in _events(raw)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == scripted.state.reply
