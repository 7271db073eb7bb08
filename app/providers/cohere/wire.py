"""Cohere v2's response shapes (the parts the gateway reads), and the mappings to OpenAI's words."""

from __future__ import annotations

import msgspec

from app.providers.base import Usage

FINISH_REASONS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
FAILED_FINISH_REASONS = ("ERROR", "TIMEOUT")


def finish_reason(value: str | None) -> str:
    return FINISH_REASONS.get(value or "COMPLETE", "stop")


class TokenCounts(msgspec.Struct):
    input_tokens: float | None = None
    output_tokens: float | None = None


class CohereUsage(msgspec.Struct):
    billed_units: TokenCounts | None = None
    tokens: TokenCounts | None = None

    def as_openai(self) -> Usage | None:
        """What Cohere bills (`billed_units`: without its own prompt template), else the raw token counts."""
        counts = (self.billed_units if self.billed_units is not None and self.billed_units.input_tokens is not None
                  else self.tokens)
        if counts is None:
            return None
        prompt, completion = int(counts.input_tokens or 0), int(counts.output_tokens or 0)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class ToolCallFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    id: str | None = None
    type: str | None = "function"
    function: ToolCallFunction | None = None


class ContentItem(msgspec.Struct):
    type: str = "text"
    text: str | None = None
    thinking: str | None = None


class AssistantMessage(msgspec.Struct):
    content: list[ContentItem] = []
    tool_calls: list[ToolCall] = []
    tool_plan: str | None = None


class ChatResponse(msgspec.Struct):
    id: str = ""
    finish_reason: str | None = None
    message: AssistantMessage = msgspec.field(default_factory=AssistantMessage)
    usage: CohereUsage | None = None


# Streaming: the event `type` picks the shape of the rest.
class StreamHead(msgspec.Struct):
    type: str = ""
    id: str | None = None
    index: int = 0


class _ContentDeltaMessage(msgspec.Struct):
    content: ContentItem | None = None


class _ContentDelta(msgspec.Struct):
    message: _ContentDeltaMessage | None = None


class ContentDeltaEvent(msgspec.Struct):
    delta: _ContentDelta | None = None


class _ToolCallMessage(msgspec.Struct):
    tool_calls: ToolCall | None = None


class _ToolCallDelta(msgspec.Struct):
    message: _ToolCallMessage | None = None


class ToolCallEvent(msgspec.Struct):
    index: int = 0
    delta: _ToolCallDelta | None = None


class _MessageEndDelta(msgspec.Struct):
    finish_reason: str | None = None
    usage: CohereUsage | None = None
    error: str | None = None


class MessageEndEvent(msgspec.Struct):
    delta: _MessageEndDelta | None = None


class EmbedMeta(msgspec.Struct):
    billed_units: TokenCounts | None = None


class EmbedByType(msgspec.Struct):
    floats: list[list[float]] = msgspec.field(default_factory=list, name="float")


class EmbedResponse(msgspec.Struct):
    embeddings: EmbedByType
    meta: EmbedMeta | None = None


class SearchUnits(msgspec.Struct):
    search_units: float | None = None


class RerankMeta(msgspec.Struct):
    billed_units: SearchUnits | None = None


class RerankResponse(msgspec.Struct):
    meta: RerankMeta | None = None


class ErrorBody(msgspec.Struct):
    message: str | None = None
