"""vertex_ai/<model> through the real gateway: Gemini and Claude on a fake Vertex AI, service-account OAuth."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import msgspec
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.lib.errors import InvalidRequest
from app.providers.base import Deployment
from app.providers.vertex_ai import PROVIDERS
from tests.fakes.vertex_upstream import SCOPE, FakeVertex
from tests.support.ledger import wait_for_rows

PROJECT = "fake-project"
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather of a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}
HELLO = [{"role": "user", "content": "Say hello"}]


def service_account(fake: FakeVertex, *, register: bool = True) -> tuple[str, str]:
    """A fresh service-account JSON (as a string) whose token_uri is the fake's; (json, private key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = f"gateway-{uuid.uuid4().hex[:8]}@{PROJECT}.iam.gserviceaccount.com"
    if register:
        fake.register(email, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    info = {"type": "service_account", "project_id": PROJECT, "private_key_id": uuid.uuid4().hex, "private_key": pem,
            "client_email": email, "client_id": "1234567890", "token_uri": fake.token_uri,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth"}
    return json.dumps(info), pem


def add_model(admin, account_id: str, fake: FakeVertex, name: str, model: str, credentials: str, **params) -> None:
    admin.ok("POST", "/model/new", account_id, json={"model_name": name, "litellm_params": {
        "model": f"vertex_ai/{model}", "api_base": fake.base_url, "vertex_project": PROJECT,
        "vertex_credentials": credentials, **params}})


@pytest.fixture(scope="module")
def vertex():
    with FakeVertex(project=PROJECT) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def account(admin, vertex) -> dict:
    account_id = admin.create_account("vertex-tests")
    credentials, pem = service_account(vertex)
    for name, model, params in [
        ("gemini-pro", "gemini-2.5-pro", {"vertex_location": "us-central1"}),
        ("gemini-thinking", "thinking", {}),
        ("gemini-500", "error-500", {}),
        ("gemini-400", "error-400", {}),
        ("gemini-too-long", "too-long", {}),
        ("claude", "claude-sonnet-4-5@20250929", {"vertex_location": "us-east5"}),
        ("claude-429", "claude-scenario-error-429", {}),
        ("claude-too-long", "claude-scenario-too-long", {}),
        ("embed", "text-embedding-005", {"vertex_location": "europe-west4"}),
        ("wrong-project", "gemini-2.5-pro", {"vertex_project": "someone-elses-project"}),
    ]:
        add_model(admin, account_id, vertex, name, model, credentials, **params)
    return {"id": account_id, "key": admin.generate_key(account_id)["key"], "pem": pem,
            "email": json.loads(credentials)["client_email"]}


@pytest.fixture(scope="module")
def sdk(api, account) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=account["key"], max_retries=0)


def _claims(assertion: str) -> tuple[dict, dict]:
    head, claims, _ = assertion.split(".")
    decode = lambda segment: json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # noqa: E731
    return decode(head), decode(claims)


async def test_gemini_on_vertex_sync_with_a_signed_token(sdk, vertex, account, db):
    raw = sdk.chat.completions.with_raw_response.create(
        model="gemini-pro", max_tokens=20, messages=[{"role": "system", "content": "Be brief."}, *HELLO])
    reply = raw.parse()

    sent = vertex.requests[-1]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
    assert sent.headers["authorization"].startswith("Bearer ya29.fake-access-token-")
    assert "x-goog-api-key" not in sent.headers
    assert sent.body == {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                         "generationConfig": {"maxOutputTokens": 20}}
    assert reply.choices[0].message.content == "Hello from fake gemini" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "gemini-2.5-pro-001"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 4)

    exchange = next(r for r in vertex.state.token_requests if _claims(r.body["assertion"])[1]["iss"] == account["email"])
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert exchange.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims = _claims(exchange.body["assertion"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"]
    assert claims["scope"] == SCOPE and claims["aud"] == vertex.token_uri and claims["exp"] - claims["iat"] == 3600

    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert rows[0]["provider"] == "vertex_ai" and (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (4, 4)


async def test_gemini_on_vertex_stream_and_reasoning(sdk, vertex, db):
    with sdk.chat.completions.with_streaming_response.create(
            model="gemini-pro", messages=HELLO, stream=True, stream_options={"include_usage": True}) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    sent = vertex.requests[-1]
    assert sent.path.endswith("/publishers/google/models/gemini-2.5-pro:streamGenerateContent")
    assert sent.query == {"alt": ["sse"]}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from fake gemini"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 4)
    rows = await wait_for_rows(db, "request_id = $1", request_id, expected=1)
    assert rows[0]["stream"] is True and rows[0]["completion_tokens"] == 4 and rows[0]["usage_estimated"] is False

    reply = sdk.chat.completions.create(model="gemini-thinking", messages=HELLO)
    assert reply.choices[0].message.reasoning_content == "Thinking about the greeting."
    assert reply.usage.completion_tokens_details.reasoning_tokens == 7


async def test_claude_on_vertex_sync_uses_raw_predict(sdk, vertex, db):
    raw = sdk.chat.completions.with_raw_response.create(
        model="claude", max_tokens=100, messages=[{"role": "system", "content": "Be brief."}, *HELLO])
    reply = raw.parse()

    sent = vertex.requests[-1]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    assert sent.headers["authorization"].startswith("Bearer ya29.fake-access-token-")
    assert "x-api-key" not in sent.headers and "anthropic-version" not in sent.headers
    assert sent.body == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 100, "system": "Be brief.",
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]}
    assert reply.choices[0].message.content == "Hello w1 w2 w3 w4 from vertex-claude"
    assert reply.choices[0].finish_reason == "stop"
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert rows[0]["completion_tokens"] == 5 and rows[0]["prompt_tokens"] == reply.usage.prompt_tokens > 0

    tool = sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Weather in Paris?"}],
                                       tools=[WEATHER_TOOL], tool_choice="required")
    assert vertex.requests[-1].body["tool_choice"] == {"type": "any"}
    assert vertex.requests[-1].body["tools"][0]["name"] == "get_weather"
    call = tool.choices[0].message.tool_calls[0]
    assert tool.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}


async def test_claude_on_vertex_stream_uses_stream_raw_predict(sdk, vertex, db):
    chunks = list(sdk.chat.completions.create(model="claude", messages=HELLO, stream=True))
    sent = vertex.requests[-1]
    assert sent.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    assert sent.body["stream"] is True and sent.body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent.body
    assert all(chunk.choices for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello w1 w2 w3 w4 from vertex-claude"
    assert chunks[-1].choices[0].finish_reason == "stop"

    with sdk.chat.completions.with_streaming_response.create(
            model="claude", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL],
            stream=True, stream_options={"include_usage": True}) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(c.function.arguments or "" for c in calls)) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    rows = await wait_for_rows(db, "request_id = $1", request_id, expected=1)
    assert rows[0]["completion_tokens"] == 8 and rows[0]["usage_estimated"] is False


def test_one_token_exchange_serves_many_calls(admin, api, vertex):
    account_id = admin.create_account("vertex-token-cache")
    credentials, _ = service_account(vertex)
    email = json.loads(credentials)["client_email"]
    add_model(admin, account_id, vertex, "gemini", "gemini-2.5-flash", credentials)
    add_model(admin, account_id, vertex, "claude", "claude-haiku-4-5@20251001", credentials)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=admin.generate_key(account_id)["key"], max_retries=0)

    client.chat.completions.create(model="gemini", messages=HELLO)
    list(client.chat.completions.create(model="gemini", messages=HELLO, stream=True))
    client.chat.completions.create(model="claude", messages=HELLO)
    list(client.chat.completions.create(model="claude", messages=HELLO, stream=True))

    exchanges = [r for r in vertex.state.token_requests if _claims(r.body["assertion"])[1]["iss"] == email]
    assert len(exchanges) == 1
    tokens = {r.headers["authorization"] for r in vertex.requests[-4:]}
    assert len(tokens) == 1

    # The upstream stops accepting the token: the 401 drops it, and the next attempt exchanges a new one.
    stale = tokens.pop()
    vertex.state.tokens.discard(stale[7:])
    try:
        client.chat.completions.create(model="gemini", messages=HELLO)
    except openai.APIStatusError as exc:  # unless the gateway's own retry already made the next attempt
        assert exc.status_code == 502 and exc.body["code"] == "upstream_auth_failed"
    assert client.chat.completions.create(model="gemini", messages=HELLO).choices[0].message.content
    assert any(r.headers["authorization"] == stale for r in vertex.requests[-3:]), "the stale token was tried"
    assert vertex.requests[-1].headers["authorization"] != stale
    assert len([r for r in vertex.state.token_requests if _claims(r.body["assertion"])[1]["iss"] == email]) == 2


def test_a_bad_signature_is_refused_without_leaking(admin, api, vertex):
    account_id = admin.create_account("vertex-bad-signature")
    credentials, pem = service_account(vertex)
    info = json.loads(credentials)
    # Same account name, another key: the fake verifies the JWT with the registered public key and refuses it.
    other, other_pem = service_account(vertex, register=False)
    forged = json.dumps({**info, "private_key": json.loads(other)["private_key"]})
    add_model(admin, account_id, vertex, "forged", "gemini-2.5-flash", forged)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=admin.generate_key(account_id)["key"], max_retries=0)
    model_calls = len(vertex.requests)

    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="forged", messages=HELLO, stream=stream)
        assert refused.value.status_code == 502 and refused.value.body["code"] == "upstream_auth_failed"
        text = refused.value.response.text
        assert "PRIVATE KEY" not in text and info["client_email"] not in text and "invalid_grant" not in text
    assert len(vertex.requests) == model_calls, "no model call without a token"
    last = vertex.state.token_requests[-1]
    assert _claims(last.body["assertion"])[1]["iss"] == info["client_email"]


def test_vertex_errors_are_mapped(sdk):
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="claude-429", messages=HELLO)
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.chat.completions.create(model="claude-too-long", messages=HELLO)
    assert too_long.value.body["code"] == "context_length_exceeded"
    assert too_long.value.body["message"].startswith("prompt is too long")
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.chat.completions.create(model="gemini-too-long", messages=HELLO)
    assert too_long.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="gemini-400", messages=HELLO)
    assert bad.value.body["message"] == "Request contains an invalid argument."
    for model in ("gemini-500", "wrong-project"):
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as failed:
                sdk.chat.completions.create(model=model, messages=HELLO, stream=stream)
            assert failed.value.status_code == 502
    assert failed.value.body["code"] == "upstream_auth_failed"  # 403 PERMISSION_DENIED is the gateway's problem


async def test_vertex_embeddings_use_predict_and_its_token_counts(sdk, vertex, db):
    raw = sdk.embeddings.with_raw_response.create(model="embed", input=["hello there", "world"], dimensions=3)
    result = raw.parse()
    sent = vertex.requests[-1]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/europe-west4/publishers/google/models/text-embedding-005:predict"
    assert sent.body == {"instances": [{"content": "hello there"}, {"content": "world"}],
                         "parameters": {"outputDimensionality": 3}}
    assert result.data[0].embedding == pytest.approx([0.11, 0.12, 0.13])
    assert result.usage.prompt_tokens == 3
    rows = await wait_for_rows(db, "request_id = $1", raw.headers["x-request-id"], expected=1)
    assert rows[0]["prompt_tokens"] == 3 and rows[0]["usage_estimated"] is False

    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model="claude", input="hello")


def test_credentials_never_reach_the_logs(cluster, account, vertex):
    secret_lines = [line for line in account["pem"].splitlines() if "PRIVATE KEY" not in line]
    for path in cluster.log_dir.glob("*.log"):
        text = path.read_text(errors="replace")
        assert not any(line in text for line in secret_lines[:3]), path.name
        assert "ya29.fake-access-token" not in text, path.name


async def test_native_messages_pass_through_for_claude_only(vertex):
    """The adapter's Anthropic Messages capability, called in-process as the gateway's /v1/messages would."""
    credentials, _ = service_account(vertex)
    deployment = Deployment(id=uuid.uuid4(), account_id=uuid.uuid4(), model_name="claude", provider="vertex_ai",
                            upstream_model="claude-sonnet-4-5@20250929", api_base=vertex.base_url,
                            params={"vertex_project": PROJECT, "vertex_location": "us-east5"},
                            secrets={"vertex_credentials": credentials})
    body = {"model": "claude-sonnet-4-5@20250929", "max_tokens": 50, "messages": HELLO}
    adapter = PROVIDERS["vertex_ai"]
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await adapter.messages(client, deployment, body, beta="prompt-caching-2024-07-31")
        sent = vertex.requests[-1]
        assert sent.path.endswith(":rawPredict") and sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
        assert sent.body == {"max_tokens": 50, "messages": HELLO, "anthropic_version": "vertex-2023-10-16"}
        assert json.loads(reply.body)["type"] == "message" and reply.usage.completion_tokens == 5

        stream = await adapter.stream_messages(client, deployment, body)
        try:
            events = [event async for event in stream.events()]
        finally:
            await stream.aclose()
        assert events[0].startswith(b"event: message_start") and events[-1].startswith(b"event: message_stop")
        assert vertex.requests[-1].path.endswith(":streamRawPredict") and vertex.requests[-1].body["stream"] is True

        gemini = msgspec.structs.replace(deployment, upstream_model="gemini-2.5-pro")
        with pytest.raises(InvalidRequest):
            await adapter.messages(client, gemini, body)


def test_messages_api_is_native_for_claude_and_translated_for_gemini(api, account, vertex):
    import anthropic

    client = anthropic.Anthropic(base_url=api.url, api_key=account["key"], max_retries=0)
    before = len(vertex.requests)
    for model in ("claude", "gemini-pro"):
        message = client.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": "Say hello"}])
        assert message.type == "message" and message.content[0].text
    paths = [request.path for request in vertex.requests[before:] if not request.path.endswith("/token")]
    assert any(path.endswith(":rawPredict") for path in paths), "Claude: Anthropic's own API on Vertex"
    assert any(path.endswith(":generateContent") for path in paths), "Gemini: translated onto chat"
