"""Counting what the upstream did not count: the generated text of a reply or of relayed chunks.

Used only when an upstream reports no usage (servers that ignore `stream_options`, or a stream
that ended early); the text is then counted with tiktoken (app/billing/tokens.py).
"""

from __future__ import annotations

import msgspec


class _Message(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[dict] | None = None


class _Delta(_Message):
    pass


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    message: _Message | None = None
    text: str | None = None  # legacy completions


class _Completion(msgspec.Struct):
    choices: list[_Choice] = []


_completion = msgspec.json.Decoder(_Completion).decode


def _texts(message: _Message | None) -> list[str]:
    if message is None:
        return []
    parts = [text for text in (message.content, message.reasoning_content) if text]
    for call in message.tool_calls or ():
        function = call.get("function") or {}
        parts += [str(function.get(name) or "") for name in ("name", "arguments")]
    return parts


def _generated(raw: bytes) -> list[str]:
    try:
        completion = _completion(raw)
    except msgspec.DecodeError:
        return []
    return [text for choice in completion.choices
            for text in _texts(choice.delta) + _texts(choice.message) + ([choice.text] if choice.text else [])]


def streamed_text(events: list[bytes]) -> str:
    """The generated text (content, reasoning, tool-call arguments) of relayed `data: {...}` chunk events."""
    return "".join(text for event in events for text in _generated(event[6:]))


def reply_text(body: bytes) -> str:
    """The generated text of a whole chat completion body."""
    return "".join(_generated(body))
