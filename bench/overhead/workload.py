"""The one request every target gets, and the check that a target answered it properly.

The same body goes to the fake, the gateway and LiteLLM. A streamed request asks for
`stream_options.include_usage` because LiteLLM drops the upstream usage chunk without it, and a
gateway that bills must read that chunk anyway.
"""

from __future__ import annotations

import json
from enum import Enum

MODEL = "bench-model"
UPSTREAM_CHUNKS = 20
# What tests/fakes/openai_upstream.py answers with --chunks 20 (its default name is "fake").
EXPECTED_TEXT = "Hello" + "".join(f" w{i}" for i in range(1, UPSTREAM_CHUNKS)) + " from fake"


class Mode(str, Enum):
    NON_STREAMING = "non-stream"
    STREAMING = "stream"

    @property
    def streams(self) -> bool:
        return self is Mode.STREAMING


class BadAnswer(RuntimeError):
    """A target answered the bench request with something other than the fake's completion."""


def chat_body(mode: Mode, *, max_tokens: int | None = None, model: str = MODEL) -> bytes:
    """The bench request; max_tokens caps what a budget reserves (the fake upstream ignores it)."""
    body: dict = {"model": model, "messages": [{"role": "user", "content": "Say hello to the benchmark"}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if mode.streams:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


def check_answer(mode: Mode, status: int, raw: bytes) -> None:
    """Raise BadAnswer unless raw is the fake's completion (all text, usage) in the expected shape."""
    if status != 200:
        raise BadAnswer(f"HTTP {status}: {raw[:500]!r}")
    text, usage = _streamed_text_and_usage(raw) if mode.streams else _text_and_usage(raw)
    if text != EXPECTED_TEXT:
        raise BadAnswer(f"expected the text {EXPECTED_TEXT!r}, got {text!r}")
    if not usage or not usage.get("total_tokens"):
        raise BadAnswer(f"no usage in the answer: {raw[-500:]!r}")


def _text_and_usage(raw: bytes) -> tuple[str, dict | None]:
    try:
        answer = json.loads(raw)
        return answer["choices"][0]["message"]["content"], answer.get("usage")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BadAnswer(f"not a chat.completion ({exc!r}): {raw[:500]!r}") from None


def _streamed_text_and_usage(raw: bytes) -> tuple[str, dict | None]:
    events = [line[len(b"data:"):].strip() for line in raw.splitlines() if line.startswith(b"data:")]
    if not events or events[-1] != b"[DONE]":
        raise BadAnswer(f"the stream does not end with data: [DONE]: {raw[-300:]!r}")
    pieces: list[str] = []
    usage = None
    for event in events[:-1]:
        try:
            chunk = json.loads(event)
        except ValueError:
            raise BadAnswer(f"an event is not JSON: {event[:300]!r}") from None
        for choice in chunk.get("choices") or []:
            pieces.append((choice.get("delta") or {}).get("content") or "")
        usage = chunk.get("usage") or usage
    return "".join(pieces), usage
