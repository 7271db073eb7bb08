"""Anthropic Messages API shapes the adapter reads (responses, stream events, errors), and usage → OpenAI usage.

Fields the adapter does not use are left out: msgspec skips unknown fields, so new vendor fields
never break decoding.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.providers.base import CompletionTokensDetails, PromptTokensDetails, Usage


class OutputTokensDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class AnthropicUsage(msgspec.Struct):
    """Anthropic's `input_tokens` excludes cache reads and writes; its `output_tokens` includes thinking."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: OutputTokensDetails | None = None

    def updated(self, later: AnthropicUsage) -> AnthropicUsage:
        """`message_delta` counts are cumulative and may repeat any field: the later value wins."""
        fields = {name: getattr(later, name) if getattr(later, name) is not None else getattr(self, name)
                  for name in self.__struct_fields__}
        return AnthropicUsage(**fields)

    def as_openai(self) -> Usage:
        cache_read = self.cache_read_input_tokens or 0
        cache_write = self.cache_creation_input_tokens or 0
        prompt = (self.input_tokens or 0) + cache_read + cache_write
        completion = self.output_tokens or 0
        thinking = self.output_tokens_details.thinking_tokens if self.output_tokens_details else None
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=cache_read, cache_write_tokens=cache_write),
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=thinking or 0),
        )


class Block(msgspec.Struct):
    """One content block of any type; only the fields of the types the adapter maps are read."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None


class Message(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[Block] = []
    stop_reason: str | None = None
    usage: AnthropicUsage | None = None


class UsageOnly(msgspec.Struct):
    usage: AnthropicUsage | None = None


# Stream events, one struct per SSE `event:` name (the name equals the payload's `type`).
class MessageStart(msgspec.Struct):
    message: Message


class ContentBlockStart(msgspec.Struct):
    index: int
    content_block: Block


class Delta(msgspec.Struct):
    type: str
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None


class ContentBlockDelta(msgspec.Struct):
    index: int
    delta: Delta


class MessageDeltaBody(msgspec.Struct):
    stop_reason: str | None = None


class MessageDelta(msgspec.Struct):
    delta: MessageDeltaBody
    usage: AnthropicUsage | None = None


class ErrorDetail(msgspec.Struct):
    type: str | None = None
    message: str | None = None


class ErrorEnvelope(msgspec.Struct):
    """`{"type": "error", "error": {"type": "...", "message": "..."}}`: error answers and `error` stream events."""

    error: ErrorDetail | None = None


class TokenCount(msgspec.Struct):
    input_tokens: int


decode_message = msgspec.json.Decoder(Message).decode
decode_usage_only = msgspec.json.Decoder(UsageOnly).decode
decode_token_count = msgspec.json.Decoder(TokenCount).decode
_decode_error = msgspec.json.Decoder(ErrorEnvelope).decode


def error_of(body: bytes) -> ErrorDetail | None:
    try:
        return _decode_error(body).error
    except msgspec.DecodeError:
        return None
