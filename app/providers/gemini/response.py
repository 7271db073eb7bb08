"""A Gemini `GenerateContentResponse` → an OpenAI `chat.completion` (shared by gemini/ and vertex_ai/)."""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from app.providers.base import CompletionTokensDetails, PromptTokensDetails, Usage
from app.providers.gemini.wire import Candidate, GenerateContentResponse, Part, UsageMetadata

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}

_encode = msgspec.json.Encoder().encode


def finish_reason(reason: str | None, called_tools: bool) -> str | None:
    if reason is None:
        return None
    return "tool_calls" if called_tools else FINISH_REASONS.get(reason, "stop")


def completion_id(response_id: str | None) -> str:
    return f"chatcmpl-{response_id or os.urandom(12).hex()}"


def usage_of(meta: UsageMetadata) -> Usage:
    # Thinking is billed as output; tool-use prompts (e.g. grounding results) as input.
    prompt = meta.prompt_token_count + meta.tool_use_prompt_token_count
    completion = meta.candidates_token_count + meta.thoughts_token_count
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=meta.cached_content_token_count),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=meta.thoughts_token_count),
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    """OpenAI's `usage` object (without the gateway-only `cache_write_tokens`)."""
    details, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": details.cached_tokens if details else 0},
        "completion_tokens_details": {"reasoning_tokens": completion.reasoning_tokens if completion else 0},
    }


def tool_call(call_number: int, part: Part) -> dict[str, Any]:
    function = part.function_call
    assert function is not None
    return {
        "id": f"call_{call_number}",
        "type": "function",
        "function": {"name": function.name, "arguments": _encode(function.args or {}).decode()},
    }


def _choice(position: int, candidate: Candidate, calls: list[int]) -> dict[str, Any]:
    text: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for part in candidate.content.parts if candidate.content else ():
        if part.function_call is not None:
            tool_calls.append(tool_call(calls[0], part))
            calls[0] += 1
        elif part.text is not None:
            (thoughts if part.thought else text).append(part.text)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not tool_calls else None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if tool_calls:
        message["tool_calls"] = tool_calls
    index = candidate.index if candidate.index is not None else position
    return {"index": index, "message": message, "logprobs": None,
            "finish_reason": finish_reason(candidate.finish_reason or "STOP", bool(tool_calls))}


def chat_completion(response: GenerateContentResponse, model: str) -> tuple[bytes, Usage | None]:
    calls = [0]  # tool call ids count across the whole answer: call_0, call_1, ...
    choices = [_choice(position, candidate, calls) for position, candidate in enumerate(response.candidates)]
    if not choices and response.prompt_feedback is not None and response.prompt_feedback.block_reason:
        # The prompt itself was blocked: no candidates at all.
        choices = [{"index": 0, "message": {"role": "assistant", "content": None}, "logprobs": None,
                    "finish_reason": "content_filter"}]
    usage = usage_of(response.usage_metadata) if response.usage_metadata else None
    body: dict[str, Any] = {
        "id": completion_id(response.response_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model_version or model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return _encode(body), usage
