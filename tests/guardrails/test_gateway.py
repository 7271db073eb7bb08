"""Guardrails on prompts, through the official SDKs: mask reaches the upstream masked, block is a 400 that
names the guard (never the secret) before any upstream call or limit, log forwards unchanged; every
prompt format; custom patterns; changes reach other API processes at once; accounts stay apart; each
hit is a guardrails_audit_log row without the matched text."""

from __future__ import annotations

import asyncio
import time
import uuid

import anthropic
import httpx
import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.guardrails.conftest import aws_key, email, make_guarded


def _openai(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def _masked(sent: str, secret: str, before: str, after: str) -> None:
    """The upstream got the text around the secret unchanged, and something else in its place."""
    assert secret not in sent, "the secret reached the upstream"
    assert sent.startswith(before) and sent.endswith(after) and len(sent) > len(before) + len(after), sent


def _eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


async def _hits(db, account_id: str, expected: int, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch("SELECT * FROM guardrails_audit_log WHERE account_id = $1 ORDER BY occurred_at",
                              uuid.UUID(account_id))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


# --- mask, block, log -----------------------------------------------------------------------------------

def test_mask_sends_the_upstream_the_masked_prompt(api, guarded, scripted):
    guarded.guard("secret_detection")
    secret = aws_key()
    reply = _openai(api.url, guarded.key).chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": f"deploy with {secret} please"}])
    assert reply.choices[0].message.content == scripted.state.reply
    _masked(scripted.requests[-1].body["messages"][0]["content"], secret, "deploy with ", " please")


async def test_block_is_a_400_naming_the_guard_and_nothing_is_called_or_charged(api, admin, guarded, scripted, db):
    guarded.guard("pii", action="block")
    limited = admin.generate_key(guarded.account_id, rpm_limit=1)["key"]
    client = _openai(api.url, limited)
    address = email()
    calls_before = len(scripted.requests)
    for _ in range(3):  # more than the key's rpm: a blocked request uses none of it
        response = httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {limited}"},
                              json={"model": "gpt", "messages": [{"role": "user", "content": f"write to {address}"}]})
        assert response.status_code == 400, response.text
        assert address not in response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "guardrail_blocked")
        assert "pii" in error["message"] and "'email'" in error["message"]
        assert response.headers["x-request-id"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": f"cc {address}"}])
    assert caught.value.body["code"] == "guardrail_blocked"
    assert len(scripted.requests) == calls_before, "a blocked request never reaches the upstream"

    client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "no personal data here"}])
    assert len(scripted.requests) == calls_before + 1, "the clean request is within the rpm the blocked ones left"
    await asyncio.sleep(1.0)
    assert await db.fetchval("SELECT count(*) FROM usage_ledger WHERE account_id = $1",
                             uuid.UUID(guarded.account_id)) == 1, "only the clean request is in the ledger"


async def test_log_forwards_unchanged_and_records_the_hit(api, guarded, scripted, db):
    guarded.guard("secret_detection", action="log")
    secret = aws_key()
    _openai(api.url, guarded.key).chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": f"the key is {secret}"}])
    assert scripted.requests[-1].body["messages"][0]["content"] == f"the key is {secret}"
    rows = await _hits(db, guarded.account_id, 1)
    assert [(r["guard_type"], r["name"], r["action"], r["direction"]) for r in rows] == [
        ("secret_detection", "aws_access_key", "log", "input")]


def test_a_detector_override_wins_over_the_guard_action(api, guarded, scripted):
    guarded.guard("pii", action="block", detectors={"email": "mask", "phone": "off"})
    address = email()
    _openai(api.url, guarded.key).chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": f"mail {address} or call +44 20 7946 0958"}])
    sent = scripted.requests[-1].body["messages"][0]["content"]
    _masked(sent, address, "mail ", " or call +44 20 7946 0958")


# --- every prompt format --------------------------------------------------------------------------------

def test_chat_every_message_role_and_text_part(api, guarded, scripted):
    guarded.guard("secret_detection")
    secrets = [aws_key() for _ in range(5)]
    _openai(api.url, guarded.key).chat.completions.create(model="gpt", messages=[
        {"role": "system", "content": f"sys {secrets[0]} end"},
        {"role": "developer", "content": f"dev {secrets[1]} end"},
        {"role": "user", "content": [{"type": "text", "text": f"part {secrets[2]} end"},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"tool {secrets[3]} end"},
        {"role": "user", "content": f"user {secrets[4]} end"},
    ])
    sent = scripted.requests[-1].body["messages"]
    texts = [sent[0]["content"], sent[1]["content"], sent[2]["content"][0]["text"], sent[4]["content"],
             sent[5]["content"]]
    for text, secret, word in zip(texts, secrets, ("sys", "dev", "part", "tool", "user")):
        _masked(text, secret, f"{word} ", " end")
    assert sent[2]["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


def test_completions_and_embeddings(api, guarded, scripted):
    guarded.guard("secret_detection")
    client = _openai(api.url, guarded.key)
    one, two, three = aws_key(), aws_key(), aws_key()
    client.completions.create(model="gpt", prompt=f"complete {one} end")
    _masked(scripted.requests[-1].body["prompt"], one, "complete ", " end")
    client.completions.create(model="gpt", prompt=[f"a {two} end", "clean"])
    sent = scripted.requests[-1].body["prompt"]
    _masked(sent[0], two, "a ", " end")
    assert sent[1] == "clean"

    client.embeddings.create(model="embed", input=[f"embed {three} end", "clean"], encoding_format="float")
    sent = scripted.requests[-1].body["input"]
    _masked(sent[0], three, "embed ", " end")
    client.embeddings.create(model="embed", input=[[101, 202, 303]], encoding_format="float")
    assert scripted.requests[-1].body["input"] == [[101, 202, 303]], "token ids are not text"


def test_responses_native_and_translated(api, guarded, scripted):
    guarded.guard("secret_detection")
    client = _openai(api.url, guarded.key)
    secrets = [aws_key() for _ in range(5)]
    client.responses.create(model="gpt", instructions=f"inst {secrets[0]} end", input=f"in {secrets[1]} end")
    native = scripted.requests[-1]
    assert native.path == "/v1/responses"
    _masked(native.body["instructions"], secrets[0], "inst ", " end")
    _masked(native.body["input"], secrets[1], "in ", " end")

    client.responses.create(model="gpt", input=[
        {"role": "user", "content": [{"type": "input_text", "text": f"item {secrets[2]} end"}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": f"out {secrets[3]} end"},
    ])
    items = scripted.requests[-1].body["input"]
    _masked(items[0]["content"][0]["text"], secrets[2], "item ", " end")
    _masked(items[2]["output"], secrets[3], "out ", " end")

    client.responses.create(model="vllm", input=f"via chat {secrets[4]} end")
    translated = scripted.requests[-1]
    assert translated.path == "/v1/chat/completions"
    _masked(translated.body["messages"][-1]["content"], secrets[4], "via chat ", " end")


def test_messages_translated(api, guarded, scripted):
    guarded.guard("secret_detection")
    client = anthropic.Anthropic(base_url=api.url, api_key=guarded.key, max_retries=0)
    secrets = [aws_key() for _ in range(4)]
    client.messages.create(model="vllm", max_tokens=50, system=[{"type": "text", "text": f"sys {secrets[0]} end"}],
                           messages=[
                               {"role": "user", "content": f"user {secrets[1]} end"},
                               {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup",
                                                                  "input": {}}]},
                               {"role": "user", "content": [
                                   {"type": "tool_result", "tool_use_id": "toolu_1",
                                    "content": [{"type": "text", "text": f"result {secrets[2]} end"}]},
                                   {"type": "text", "text": f"block {secrets[3]} end"}]},
                           ])
    text = str(scripted.requests[-1].body["messages"])
    assert not any(secret in text for secret in secrets)
    assert all(f"{word} " in text for word in ("sys", "user", "result", "block"))


@pytest.fixture(scope="module")
def claude_upstream():
    with FakeAnthropic(api_key=CANARY_PROVIDER_KEY) as upstream:
        yield upstream


def test_messages_native_and_count_tokens(api, admin, guarded, claude_upstream):
    admin.add_model(guarded.account_id, "claude", claude_upstream.base_url, upstream="anthropic/claude-sonnet-4-5",
                    api_key=CANARY_PROVIDER_KEY)
    guarded.guard("secret_detection")
    client = anthropic.Anthropic(base_url=api.url, api_key=guarded.key, max_retries=0)
    one, two, three = aws_key(), aws_key(), aws_key()
    client.messages.create(model="claude", max_tokens=50, system=f"sys {one} end",
                           messages=[{"role": "user", "content": [{"type": "text", "text": f"user {two} end"}]}])
    sent = claude_upstream.requests[-1]
    assert sent.path == "/v1/messages"
    _masked(sent.body["system"], one, "sys ", " end")
    _masked(sent.body["messages"][0]["content"][0]["text"], two, "user ", " end")

    client.messages.count_tokens(model="claude", messages=[{"role": "user", "content": f"count {three} end"}])
    counted = claude_upstream.requests[-1]
    assert counted.path == "/v1/messages/count_tokens"
    _masked(counted.body["messages"][0]["content"], three, "count ", " end")


def test_messages_block_answers_in_anthropics_shape(api, guarded, scripted):
    guarded.guard("secret_detection", action="block")
    client = anthropic.Anthropic(base_url=api.url, api_key=guarded.key, max_retries=0)
    secret = aws_key()
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="vllm", max_tokens=50, messages=[{"role": "user", "content": f"key {secret}"}])
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "aws_access_key" in caught.value.body["error"]["message"]
    assert secret not in str(caught.value.body)


# --- custom patterns ------------------------------------------------------------------------------------

def test_custom_patterns_created_through_the_api_apply_to_the_next_request(api, guarded, scripted):
    guarded.ok("POST", "/patterns", json={"name": "ticket", "pattern": r"TCK-\d{6}"})
    blocker = guarded.ok("POST", "/patterns", json={"name": "codename", "pattern": r"(?i)project\s+bluebird",
                                                    "action": "block"})
    guarded.ok("POST", "/config/custom_patterns/toggle", json={"enabled": True})
    client = _openai(api.url, guarded.key)

    client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "see TCK-123456 today"}])
    _masked(scripted.requests[-1].body["messages"][0]["content"], "TCK-123456", "see ", " today")

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "about Project Bluebird"}])
    assert "custom_patterns" in caught.value.message and "'codename'" in caught.value.message

    guarded.ok("PATCH", f"/patterns/{blocker['id']}", json={"enabled": False})
    client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "about Project Bluebird"}])
    assert scripted.requests[-1].body["messages"][0]["content"] == "about Project Bluebird"


# --- every process, every account -----------------------------------------------------------------------

def test_a_change_reaches_another_api_process_without_restart(api, cluster, guarded, scripted):
    other = cluster.start_api()
    try:
        client = _openai(other.url, guarded.key)
        secret = aws_key()
        body = [{"role": "user", "content": f"key {secret} end"}]
        client.chat.completions.create(model="gpt", messages=body)  # the other process caches "no guards"
        assert scripted.requests[-1].body["messages"][0]["content"] == f"key {secret} end"

        guarded.ok("POST", "/config/secret_detection/toggle", json={"enabled": True})  # through the first process

        def masked_there():
            client.chat.completions.create(model="gpt", messages=body)
            assert secret not in scripted.requests[-1].body["messages"][0]["content"]

        _eventually(masked_there, timeout=2.0)
        guarded.ok("POST", "/config/secret_detection/toggle", json={"enabled": False})

        def unmasked_there():
            client.chat.completions.create(model="gpt", messages=body)
            assert scripted.requests[-1].body["messages"][0]["content"] == f"key {secret} end"

        _eventually(unmasked_there, timeout=2.0)
    finally:
        other.stop()


def test_one_accounts_guardrails_do_not_touch_another(api, admin, guarded, scripted):
    other = make_guarded(admin, scripted.base_url)
    guarded.guard("pii", action="block")
    address = email()
    body = [{"role": "user", "content": f"mail {address}"}]
    with pytest.raises(openai.BadRequestError):
        _openai(api.url, guarded.key).chat.completions.create(model="gpt", messages=body)
    _openai(api.url, other.key).chat.completions.create(model="gpt", messages=body)
    assert scripted.requests[-1].body["messages"][0]["content"] == f"mail {address}"
    assert other.ok("GET", "/audit")["total"] == 0


# --- the hit log ----------------------------------------------------------------------------------------

async def test_hits_are_logged_by_guard_detector_and_action_never_with_the_text(api, cluster, guarded, scripted, db):
    guarded.guard("secret_detection")
    guarded.guard("pii", action="block")
    secret, other_secret, address = aws_key(), aws_key(), email()
    masked = httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {guarded.key}"},
                        json={"model": "gpt", "messages": [{"role": "user", "content": f"{secret} and {other_secret}"}]})
    assert masked.status_code == 200
    blocked = httpx.post(f"{api.url}/v1/completions", headers={"authorization": f"Bearer {guarded.key}"},
                         json={"model": "gpt", "prompt": f"mail {address}"})
    assert blocked.status_code == 400

    rows = await _hits(db, guarded.account_id, 2)
    by_action = {row["action"]: row for row in rows}
    assert len(rows) == 2 and set(by_action) == {"mask", "block"}
    mask, block = by_action["mask"], by_action["block"]
    assert (mask["guard_type"], mask["name"], mask["count"], mask["direction"], mask["call_type"], mask["model"]) == (
        "secret_detection", "aws_access_key", 2, "input", "chat", "gpt")
    assert mask["request_id"] == masked.headers["x-request-id"]
    assert str(mask["key_id"]) == guarded.key_id
    assert (block["guard_type"], block["name"], block["call_type"]) == ("pii", "email", "completion")
    assert block["request_id"] == blocked.headers["x-request-id"]

    stored = await db.fetchval("SELECT string_agg(to_jsonb(t)::text, '|') FROM guardrails_audit_log t "
                               "WHERE account_id = $1", uuid.UUID(guarded.account_id))
    events = await db.fetchval("SELECT coalesce(string_agg(to_jsonb(t)::text, '|'), '') FROM audit_events t "
                               "WHERE account_id = $1", uuid.UUID(guarded.account_id))
    logs = "".join(process.log_path.read_text(errors="replace") for process in cluster.processes)
    for value in (secret, other_secret, address):
        assert value not in stored and value not in events and value not in logs

    page = guarded.ok("GET", "/audit", params={"guard_type": "pii"})
    assert page["total"] == 1 and page["hits"][0]["name"] == "email" and page["hits"][0]["action"] == "block"
    assert guarded.ok("GET", "/audit", params={"action": "mask", "name": "aws_access_key"})["total"] == 1
    assert guarded.ok("GET", "/audit", params={"start_date": "2000-01-01", "end_date": "2000-01-02"})["total"] == 0
    newest, older = (guarded.ok("GET", "/audit", params={"page_size": 1, "page": n}) for n in (1, 2))
    assert (newest["hits"][0]["action"], older["hits"][0]["action"], newest["total_pages"]) == ("block", "mask", 2)

    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'alchemi_guardrail_hits_total{guard_type="secret_detection",action="mask"}' in metrics
    assert 'alchemi_guardrail_hits_total{guard_type="pii",action="block"}' in metrics
