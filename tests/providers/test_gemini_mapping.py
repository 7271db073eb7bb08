"""The gemini/vertex_ai mapping pieces on their own: SSE framing, multi-candidate streams, JWT assertions."""

from __future__ import annotations

import base64
import json

import httpx
import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.providers.gemini.sse import sse_payloads
from app.providers.gemini.stream import ChunkTranslator
from app.providers.gemini.wire import decode_response
from app.providers.vertex_ai.credentials import SCOPE, ServiceAccount, ServiceAccountAuth


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


async def test_sse_events_split_anywhere_still_arrive_whole():
    wire = b'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n: keep-alive\r\n\r\ndata: {"c":3}'
    for cut in range(1, len(wire)):
        response = httpx.Response(200, stream=_Chunks([wire[:cut], wire[cut:]]))
        assert [p async for p in sse_payloads(response)] == [b'{"a":1}', b'{"b":2}', b'{"c":3}'], cut


def _chunks(events: list[bytes]) -> list[dict]:
    return [json.loads(event[6:]) for event in events if event.startswith(b"data: {")]


def test_candidates_stream_as_separate_choices_with_their_own_tool_call_numbers():
    translator = ChunkTranslator("gemini-2.5-flash")
    first = decode_response(json.dumps({"responseId": "r1", "candidates": [
        {"index": 0, "content": {"role": "model", "parts": [{"text": "Hi"}]}},
        {"index": 1, "content": {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]}},
    ]}))
    last = decode_response(json.dumps({"responseId": "r1", "candidates": [
        {"index": 0, "content": {"role": "model", "parts": [{"text": "!"}]}, "finishReason": "STOP"},
        {"index": 1, "content": {"role": "model", "parts": [{"functionCall": {"name": "g"}}]}, "finishReason": "STOP"},
    ], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "cachedContentTokenCount": 1}}))
    events = [*translator.feed(first), *translator.feed(last), *translator.finish()]
    chunks = _chunks(events)
    assert events[-1] == b"data: [DONE]\n\n"
    by_choice: dict[int, list[dict]] = {}
    for chunk in chunks[:-1]:
        by_choice.setdefault(chunk["choices"][0]["index"], []).append(chunk["choices"][0])
    assert "".join(c["delta"].get("content", "") for c in by_choice[0]) == "Hi!"
    assert by_choice[0][-1]["finish_reason"] == "stop" and by_choice[1][-1]["finish_reason"] == "tool_calls"
    calls = [call for c in by_choice[1] for call in c["delta"].get("tool_calls", [])]
    assert [(c["index"], c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "call_0", "f", '{"x":1}'), (1, "call_1", "g", "{}")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-r1"}


def test_the_jwt_assertion_verifies_with_the_service_account_public_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    account = ServiceAccount(client_email="sa@p.iam.gserviceaccount.com", private_key=pem,
                             token_uri="https://oauth2.example/token", private_key_id="k1")
    assertion = ServiceAccountAuth(account).assertion(now=1_700_000_000)
    head, claims, signature = assertion.split(".")
    pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
    key.public_key().verify(pad(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert msgspec.json.decode(pad(head)) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert msgspec.json.decode(pad(claims)) == {"iss": "sa@p.iam.gserviceaccount.com", "scope": SCOPE,
                                                "aud": "https://oauth2.example/token", "iat": 1_700_000_000,
                                                "exp": 1_700_003_600}
    assert "PRIVATE" not in repr(account)
