"""What the format tests share: chat chunks as upstream adapters send them, SSE parsing, request-body
validation against the SDKs' own parameter types, and SDK clients that talk to a canned answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import httpx2
import pydantic

CHUNK_BASE = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
              "created": 1741570283, "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_eb9dce56a8"}


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk with one choice, as OpenAI streams it with include_usage on."""
    return {**CHUNK_BASE, "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                                       "finish_reason": finish_reason}], "usage": None}


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    return {**CHUNK_BASE, "choices": [], "usage": usage}


def tool_piece(index: int, arguments: str, *, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    if call_id is None:
        return {"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                            "function": {"name": name, "arguments": arguments}}]}


def as_sse(chunks: Iterable[dict[str, Any]]) -> list[bytes]:
    """The relay's view of an upstream stream: `data: {...}` events, then `data: [DONE]`."""
    return [b"data: " + json.dumps(item).encode() + b"\n\n" for item in chunks] + [b"data: [DONE]\n\n"]


def parse_sse(events: Iterable[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each `event: <name>\\ndata: <json>\\n\\n` event; the framing must be exact."""
    parsed = []
    for event in events:
        assert event.endswith(b"\n\n") and event.count(b"\n") == 3, event
        name_line, data_line = event.decode().rstrip("\n").split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), event
        data = json.loads(data_line[len("data: "):])
        assert data["type"] == name_line[len("event: "):], "the SSE event name and the payload type must agree"
        parsed.append((data["type"], data))
    return parsed


def validate_params(params_type: Any, body: dict[str, Any]) -> None:
    """Validate a request body against an SDK's TypedDict params, including the lazily checked iterables."""
    _consume(_adapter(params_type).validate_python(body))


@cache
def _adapter(params_type: Any) -> pydantic.TypeAdapter:
    # Kept alive: the lazily validated iterables need their validator after validate_python returns.
    return pydantic.TypeAdapter(params_type)


def _consume(value: Any) -> None:
    # pydantic checks Iterable[...] fields only while they are iterated.
    if isinstance(value, dict):
        for item in value.values():
            _consume(item)
    elif not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        for item in value:
            _consume(item)


def canned_client(answer: Callable[[httpx2.Request], httpx2.Response]) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.MockTransport(answer))


def sse_response(events: list[bytes]) -> httpx2.Response:
    return httpx2.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"})


def json_response(body: dict[str, Any], status: int = 200) -> httpx2.Response:
    return httpx2.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
