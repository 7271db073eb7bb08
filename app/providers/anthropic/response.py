"""An Anthropic message → an OpenAI `chat.completion`, and the stop-reason map both shapes share."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from app.providers.anthropic.wire import Message

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_encode = msgspec.json.Encoder().encode


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def tool_call(block_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    return {"id": block_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _message(reply: Message) -> dict[str, Any]:
    texts, reasoning, thinking_blocks, tool_calls = [], [], [], []
    for block in reply.content:
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            tool_calls.append(tool_call(block.id, block.name, _encode(block.input or {}).decode()))
        elif block.type == "thinking":
            reasoning.append(block.thinking or "")
            thinking_blocks.append({"type": "thinking", "thinking": block.thinking or "", "signature": block.signature})
        elif block.type == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.data})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking_blocks:
        # LiteLLM's fields: clients send `thinking_blocks` back with the next turn (Anthropic needs them signed).
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking_blocks
    return message


def to_chat_completion(reply: Message) -> bytes:
    payload = {
        "id": reply.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [{"index": 0, "message": _message(reply), "logprobs": None,
                     "finish_reason": finish_reason(reply.stop_reason)}],
        "usage": reply.usage.as_openai() if reply.usage else None,
    }
    return _encode(payload)
