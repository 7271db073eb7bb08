"""A chat stream as Responses API streaming events (`event: <type>\\ndata: <json>\\n\\n`, numbered by
`sequence_number`), in the order the Responses API sends them:

    response.created, response.in_progress
    per output item (reasoning, then message, then each function call, as the model produced them):
      response.output_item.added
        message:   response.content_part.added, response.output_text.delta…, response.output_text.done,
                   response.content_part.done (refusal / reasoning_text parts alike)
        function:  response.function_call_arguments.delta…, response.function_call_arguments.done
      response.output_item.done
    response.completed (or response.incomplete at max_output_tokens, response.failed on a broken upstream)

No `data: [DONE]` follows: the Responses API ends its streams with the terminal event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.gateway.formats.chat_stream import ChatStreamTranslator, Piece, new_id, sse_event, token_counts
from app.gateway.formats.responses import (
    INCOMPLETE_REASONS, function_call_item, message_item, output_text_part, reasoning_item, response_object,
    usage_object,
)

_PART_OF = {"reasoning": "reasoning_text", "text": "output_text", "refusal": "refusal"}
_DELTA_EVENT = {"reasoning_text": "response.reasoning_text.delta", "output_text": "response.output_text.delta",
                "refusal": "response.refusal.delta"}
_DONE_EVENT = {"reasoning_text": "response.reasoning_text.done", "output_text": "response.output_text.done",
               "refusal": "response.refusal.done"}


@dataclass
class _Call:
    item_id: str
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    state: str = "waiting"  # waiting (for its name) → open → closed
    output_index: int = -1


@dataclass
class _OpenItem:
    kind: str  # reasoning | message | function_call
    output_index: int
    item_id: str
    call: _Call | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    part: str | None = None  # the type of the content part being streamed
    text: str = ""


class ResponsesStreamTranslator(ChatStreamTranslator):
    """`request` is the caller's Responses body (its settings are echoed in every `response` snapshot).

    Text arriving after a function call opens a new message item. Chat streams send their tool calls one
    after the other; a fragment for a call already closed (a vendor interleaving calls) still reaches the
    final `response.completed`, though not its own `.done` events.
    """

    def __init__(self, request: dict[str, Any], *, response_id: str, created_at: int | None = None) -> None:
        super().__init__()
        self.request = request
        self.response_id = response_id
        self.created_at = created_at or int(time.time())
        self.output: list[dict[str, Any]] = []
        self._sequence = 0
        self._open: _OpenItem | None = None
        self._calls: dict[int, _Call] = {}

    def _emit(self, event_type: str, **fields: Any) -> bytes:
        payload = {"type": event_type, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse_event(event_type, payload)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self.request, response_id=self.response_id, created_at=self.created_at,
                               status=status, output=self.output, **extra)

    def _opening(self) -> list[bytes]:
        snapshot = self._snapshot("in_progress")
        return [self._emit("response.created", response=snapshot),
                self._emit("response.in_progress", response=snapshot)]

    def _take(self, piece: Piece) -> list[bytes]:
        if piece.kind == "tool":
            return self._take_tool(piece)
        events: list[bytes] = []
        kind = "reasoning" if piece.kind == "reasoning" else "message"
        if self._open is None or self._open.kind != kind:
            events += self._close_item()
            events += self._open_item(kind, new_id("rs" if kind == "reasoning" else "msg"))
        item = self._open
        assert item is not None
        part = _PART_OF[piece.kind]
        if item.part != part:
            events += self._close_part()
            events.append(self._open_part(part))
        item.text += piece.text
        extra = {"logprobs": []} if part == "output_text" else {}
        events.append(self._emit(_DELTA_EVENT[part], item_id=item.item_id, output_index=item.output_index,
                                 content_index=len(item.parts), delta=piece.text, **extra))
        return events

    def _take_tool(self, piece: Piece) -> list[bytes]:
        call = self._calls.get(piece.index)
        if call is None:
            call = self._calls[piece.index] = _Call(new_id("fc"))
        call.call_id = call.call_id or piece.call_id
        call.name = call.name or piece.name
        call.arguments += piece.text
        if call.state == "open":
            return [self._arguments_delta(piece.text)] if piece.text else []
        if call.state == "waiting" and call.name:
            return self._start_call(call)
        return []

    def _start_call(self, call: _Call) -> list[bytes]:
        events = self._close_item() + self._open_item("function_call", call.item_id, call)
        call.state = "open"
        if call.arguments:
            events.append(self._arguments_delta(call.arguments))
        return events

    def _arguments_delta(self, text: str) -> bytes:
        item = self._open
        assert item is not None
        return self._emit("response.function_call_arguments.delta", item_id=item.item_id,
                          output_index=item.output_index, delta=text)

    def _open_item(self, kind: str, item_id: str, call: _Call | None = None) -> list[bytes]:
        index = len(self.output)
        if call is not None:
            call.call_id = call.call_id or new_id("call")
            call.output_index = index
            item = function_call_item(item_id, call.call_id, call.name or "", "", "in_progress")
        elif kind == "reasoning":
            item = reasoning_item(item_id, "", "in_progress")
        else:
            item = message_item(item_id, [], "in_progress")
        self.output.append(item)
        self._open = _OpenItem(kind, index, item_id, call)
        return [self._emit("response.output_item.added", output_index=index, item=item)]

    def _open_part(self, part: str) -> bytes:
        item = self._open
        assert item is not None
        item.part, item.text = part, ""
        return self._emit("response.content_part.added", item_id=item.item_id, output_index=item.output_index,
                          content_index=len(item.parts), part=_part(part, ""))

    def _close_part(self) -> list[bytes]:
        item = self._open
        if item is None or item.part is None:
            return []
        where = {"item_id": item.item_id, "output_index": item.output_index, "content_index": len(item.parts)}
        final = _part(item.part, item.text)
        if item.part == "output_text":
            done = self._emit(_DONE_EVENT[item.part], **where, text=item.text, logprobs=[])
        elif item.part == "refusal":
            done = self._emit(_DONE_EVENT[item.part], **where, refusal=item.text)
        else:
            done = self._emit(_DONE_EVENT[item.part], **where, text=item.text)
        events = [done, self._emit("response.content_part.done", **where, part=final)]
        item.parts.append(final)
        item.part, item.text = None, ""
        return events

    def _close_item(self, status: str = "completed") -> list[bytes]:
        item = self._open
        if item is None:
            return []
        events = self._close_part()
        if item.call is not None:
            call = item.call
            events.append(self._emit("response.function_call_arguments.done", item_id=item.item_id,
                                     output_index=item.output_index, name=call.name or "", arguments=call.arguments))
            final = function_call_item(item.item_id, call.call_id or "", call.name or "", call.arguments, status)
            call.state = "closed"
        elif item.kind == "reasoning":
            final = reasoning_item(item.item_id, "".join(part["text"] for part in item.parts), status)
        else:
            final = message_item(item.item_id, item.parts, status)
        self.output[item.output_index] = final
        self._open = None
        events.append(self._emit("response.output_item.done", output_index=item.output_index, item=final))
        return events

    def _closing(self) -> list[bytes]:
        events: list[bytes] = []
        for index in sorted(self._calls):  # calls whose name never came still reach the client
            if self._calls[index].state == "waiting":
                events += self._start_call(self._calls[index])
        incomplete = INCOMPLETE_REASONS.get(self.finish_reason or "")
        events += self._close_item("incomplete" if incomplete else "completed")
        for call in self._calls.values():
            self.output[call.output_index]["arguments"] = call.arguments
        counts = token_counts(self.usage)
        final = self._snapshot("incomplete" if incomplete else "completed",
                               usage=usage_object(counts) if counts else None, incomplete_reason=incomplete)
        events.append(self._emit("response.incomplete" if incomplete else "response.completed", response=final))
        return events

    def _failure(self, message: str) -> list[bytes]:
        failed = self._snapshot("failed", error={"code": "server_error", "message": message})
        return [self._emit("response.failed", response=failed)]


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "output_text":
        return output_text_part(text)
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "reasoning_text", "text": text}
