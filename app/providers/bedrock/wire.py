"""Bedrock Converse's response shapes (the parts the gateway reads), and the mappings to OpenAI's words."""

from __future__ import annotations

from typing import Any

import msgspec

from app.providers.base import PromptTokensDetails, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


class TokenUsage(msgspec.Struct):
    inputTokens: int = 0
    outputTokens: int = 0
    totalTokens: int = 0
    cacheReadInputTokens: int = 0
    cacheWriteInputTokens: int = 0

    def as_openai(self) -> Usage:
        # Bedrock's inputTokens leave out cache reads and writes; OpenAI's prompt_tokens hold both.
        prompt = self.inputTokens + self.cacheReadInputTokens + self.cacheWriteInputTokens
        return Usage(prompt_tokens=prompt, completion_tokens=self.outputTokens, total_tokens=prompt + self.outputTokens,
                     prompt_tokens_details=PromptTokensDetails(cached_tokens=self.cacheReadInputTokens,
                                                               cache_write_tokens=self.cacheWriteInputTokens))


class ToolUse(msgspec.Struct):
    toolUseId: str = ""
    name: str = ""
    input: Any = None


class ReasoningText(msgspec.Struct):
    text: str = ""


class ReasoningContent(msgspec.Struct):
    reasoningText: ReasoningText | None = None


class ContentBlock(msgspec.Struct):
    text: str | None = None
    toolUse: ToolUse | None = None
    reasoningContent: ReasoningContent | None = None


class Message(msgspec.Struct):
    role: str = "assistant"
    content: list[ContentBlock] = []


class Output(msgspec.Struct):
    message: Message | None = None


class ConverseResponse(msgspec.Struct):
    output: Output = msgspec.field(default_factory=Output)
    stopReason: str | None = None
    usage: TokenUsage | None = None


# ConverseStream: one shape covers every event's payload (each event fills a few of these fields).
class ToolUseStart(msgspec.Struct):
    toolUseId: str = ""
    name: str = ""


class BlockStart(msgspec.Struct):
    toolUse: ToolUseStart | None = None


class ToolUseDelta(msgspec.Struct):
    input: str = ""


class ReasoningDelta(msgspec.Struct):
    text: str | None = None


class BlockDelta(msgspec.Struct):
    text: str | None = None
    toolUse: ToolUseDelta | None = None
    reasoningContent: ReasoningDelta | None = None


class StreamPayload(msgspec.Struct):
    role: str | None = None
    contentBlockIndex: int = 0
    start: BlockStart | None = None
    delta: BlockDelta | None = None
    stopReason: str | None = None
    usage: TokenUsage | None = None
    message: str | None = None  # exception messages


class ErrorBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None  # some AWS front doors capitalise it
