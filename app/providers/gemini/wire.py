"""Gemini's `GenerateContentResponse` as it arrives on the wire (the parts the gateway reads)."""

from __future__ import annotations

from typing import Any

import msgspec


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str
    args: dict[str, Any] | None = None


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_call: FunctionCall | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[Part] = []
    role: str | None = None


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    cached_content_token_count: int = 0
    total_token_count: int = 0


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class StreamError(msgspec.Struct):
    message: str | None = None
    code: int | None = None
    status: str | None = None


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    usage_metadata: UsageMetadata | None = None
    prompt_feedback: PromptFeedback | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: StreamError | None = None  # only ever inside a stream that broke after it started


decode_response = msgspec.json.Decoder(GenerateContentResponse).decode
