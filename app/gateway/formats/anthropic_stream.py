"""A chat stream as Anthropic Messages streaming events (`event: <type>\\ndata: <json>\\n\\n`), in the
order Anthropic sends them:

    message_start, ping
    per content block (thinking, text, then each tool_use, as the model produced them), with its index:
      content_block_start, content_block_delta… (text_delta / thinking_delta / input_json_delta), content_block_stop
    message_delta (stop_reason, usage), message_stop

Usage: a chat stream reports its counts only at its end, so `message_start` carries the caller's
estimate of input_tokens (0 if none) and `message_delta.usage` carries the final cumulative counts —
input_tokens, cache_read_input_tokens, cache_creation_input_tokens and output_tokens — which the
Anthropic SDKs let overwrite those of message_start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.gateway.formats.anthropic_messages import stop_reason, thinking_enabled, usage_object
from app.gateway.formats.chat_stream import ChatStreamTranslator, Piece, new_id, sse_event, token_counts


@dataclass
class _Call:
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    state: str = "waiting"  # waiting (for its name) → open → closed


class MessagesStreamTranslator(ChatStreamTranslator):
    """`request` is the caller's Messages body; `input_tokens` the estimate `message_start` shows.

    Reasoning becomes thinking blocks only when the request enabled thinking (their `signature` is empty:
    no vendor but Anthropic makes one, and thinking blocks sent back are dropped on the way in). Chat
    streams send tool calls one after the other; a fragment for a call whose block already stopped
    (a vendor interleaving calls) cannot be sent and is dropped.
    """

    def __init__(self, request: dict[str, Any], *, message_id: str | None = None, input_tokens: int = 0) -> None:
        super().__init__()
        self.request = request
        self.message_id = message_id or new_id("msg")
        self.input_tokens = input_tokens
        self._thinking = thinking_enabled(request)
        self._blocks = 0
        self._open: str | None = None  # type of the block being streamed
        self._calls: dict[int, _Call] = {}

    def _opening(self) -> list[bytes]:
        message = {
            "id": self.message_id, "type": "message", "role": "assistant", "model": self.request.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 0},
        }
        return [sse_event("message_start", {"type": "message_start", "message": message}),
                sse_event("ping", {"type": "ping"})]

    def _take(self, piece: Piece) -> list[bytes]:
        if piece.kind == "tool":
            return self._take_tool(piece)
        if piece.kind == "reasoning":
            if not self._thinking:
                return []
            kind, block, delta = "thinking", {"type": "thinking", "thinking": "", "signature": ""}, \
                {"type": "thinking_delta", "thinking": piece.text}
        else:  # a refusal is text to an Anthropic client
            kind, block, delta = "text", {"type": "text", "text": ""}, {"type": "text_delta", "text": piece.text}
        events = [] if self._open == kind else self._stop_block() + self._start_block(kind, block)
        events.append(self._delta(delta))
        return events

    def _take_tool(self, piece: Piece) -> list[bytes]:
        call = self._calls.setdefault(piece.index, _Call())
        call.call_id = call.call_id or piece.call_id
        call.name = call.name or piece.name
        if call.state == "open":
            call.arguments += piece.text
            return [self._delta({"type": "input_json_delta", "partial_json": piece.text})] if piece.text else []
        if call.state == "waiting":
            call.arguments += piece.text
            if call.name:
                return self._start_call(call)
        return []

    def _start_call(self, call: _Call) -> list[bytes]:
        block = {"type": "tool_use", "id": call.call_id or new_id("toolu"), "name": call.name or "", "input": {}}
        events = self._stop_block() + self._start_block("tool_use", block)
        call.state = "open"
        if call.arguments:
            events.append(self._delta({"type": "input_json_delta", "partial_json": call.arguments}))
        return events

    def _start_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        self._open = kind
        return [sse_event("content_block_start", {"type": "content_block_start", "index": self._blocks,
                                                  "content_block": block})]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": self._blocks, "delta": delta})

    def _stop_block(self) -> list[bytes]:
        if self._open is None:
            return []
        if self._open == "tool_use":
            for call in self._calls.values():
                if call.state == "open":
                    call.state = "closed"
        self._open = None
        index = self._blocks
        self._blocks += 1
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _closing(self) -> list[bytes]:
        events: list[bytes] = []
        for index in sorted(self._calls):  # calls whose name never came still reach the client
            if self._calls[index].state == "waiting":
                events += self._start_call(self._calls[index])
        events += self._stop_block()
        # Without counts, leave message_start's input estimate standing (the SDKs keep what is omitted).
        usage = usage_object(self.usage) if token_counts(self.usage) else {"output_tokens": 0}
        reason = stop_reason(self.finish_reason, has_tool_use=bool(self._calls))
        events.append(sse_event("message_delta", {"type": "message_delta",
                                                  "delta": {"stop_reason": reason, "stop_sequence": None},
                                                  "usage": usage}))
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return events

    def _failure(self, message: str) -> list[bytes]:
        return [sse_event("error", {"type": "error", "error": {"type": "api_error", "message": message}})]
