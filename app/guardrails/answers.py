"""Guardrails on the models' answers (accounts with `scan_responses`): whole answers masked field by field,
streams masked event by event with one `StreamMasker` per choice or content block, so a secret split
across chunks is still caught. Every event stays valid JSON of its own shape; text held back while a
match may still be growing comes out in a later event (at the latest the one closing its choice or
block, or one added before the stream ends), so the client's concatenation is the masked text.

Covered: chat and completions (whole and streamed), /v1/responses and /v1/messages whole (native or
translated), their streams translated from chat (masked before translation) and native (Responses
`output_text` deltas and the `.done`/`completed` snapshots; Messages `text_delta`s). Not scanned: tool
call arguments, reasoning/thinking text, refusals. A block on output ends a stream with an error event
(the upstream call is then closed, like a client that left); a whole answer becomes 400 `guardrail_blocked`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from app.gateway.formats.chat_stream import sse_event
from app.guardrails.gateway import Guard, Screening, Slot, blocked_error, content_slots
from app.guardrails.scanner import Finding
from app.guardrails.stream import StreamMasker
from app.providers.sse import data_of

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _data(event: bytes) -> dict[str, Any] | None:
    """An event's JSON object; None when it has none or it does not parse (such an event is dropped:
    text the guard cannot read is not passed on unread)."""
    try:
        data = _decode(data_of(event) or b"null")
    except msgspec.DecodeError:
        return None
    return data if isinstance(data, dict) else None


# --- whole answers --------------------------------------------------------------------------------------

def _chat_reply(body: dict[str, Any]) -> Iterator[Slot]:
    for choice in body.get("choices") or ():
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            yield from content_slots(choice["message"], "content")


def _completion_reply(body: dict[str, Any]) -> Iterator[Slot]:
    for choice in body.get("choices") or ():
        if isinstance(choice, dict) and isinstance(choice.get("text"), str):
            yield choice, "text"


def _responses_reply(body: dict[str, Any]) -> Iterator[Slot]:
    for item in body.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    yield part, "text"


def _messages_reply(body: dict[str, Any]) -> Iterator[Slot]:
    for block in body.get("content") or ():
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            yield block, "text"


REPLIES = {"chat": _chat_reply, "completion": _completion_reply, "responses": _responses_reply,
           "messages": _messages_reply}


def screen_reply(guard: Guard, raw: bytes, shape: str) -> bytes:
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        return raw
    if not isinstance(body, dict):
        return raw
    screening = Screening().run(guard.scanner, REPLIES[shape](body))
    guard.record(screening.findings, "output")
    if screening.blocked is not None:
        raise blocked_error(screening.blocked, "output", guard.request_id)
    return _encode(body) if screening.changed else raw


# --- streams --------------------------------------------------------------------------------------------

class _Blocked(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


class _Maskers:
    """One StreamMasker per stream position (a choice, a content block), and everything they found."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.open: dict[Any, StreamMasker] = {}
        self.findings: list[Finding] = []

    def _noted(self, text: str, findings: list[Finding]) -> str:
        self.findings.extend(findings)
        for finding in findings:
            if finding.action == "block":
                raise _Blocked(finding)
        return text

    def feed(self, position: Any, text: str) -> str:
        masker = self.open.get(position)
        if masker is None:
            masker = self.open[position] = StreamMasker(self.guard.scanner)
        return self._noted(*masker.feed(text))

    def finish(self, position: Any) -> str:
        masker = self.open.pop(position, None)
        return "" if masker is None else self._noted(*masker.finish())

    def finish_all(self) -> dict[Any, str]:
        return {position: self.finish(position) for position in list(self.open)}


async def screen_stream(guard: Guard, events: AsyncIterator[bytes], shape: str) -> AsyncIterator[bytes]:
    maskers = _Maskers(guard)
    screen = _SHAPES[shape](maskers)
    try:
        try:
            async for event in events:
                for out in screen.event(event):
                    yield out
            for out in screen.end():
                yield out
        except _Blocked as blocked:
            error = blocked_error(blocked.finding, "output", guard.request_id)
            yield screen.error(error.message)
    finally:
        guard.record(maskers.findings, "output")
        await events.aclose()


class _ChatScreen:
    """`data: {chunk}` events of chat (`choices[].delta.content`) or completions (`choices[].text`)."""

    def __init__(self, maskers: _Maskers, completion: bool = False) -> None:
        self.maskers = maskers
        self.completion = completion
        self.last: dict[str, Any] = {}  # the latest chunk's envelope, for a chunk of our own at the end

    def _slot(self, choice: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.completion:
            return choice, "text"
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        return delta, "content"

    def event(self, event: bytes) -> list[bytes]:
        if event.startswith(b"data: [DONE]"):
            return self.end() + [event]
        if not event.startswith(b"data: {"):
            return [event]
        chunk = _data(event)
        if chunk is None:
            return []
        choices = chunk.get("choices")
        if not choices:
            return [event]
        self.last = chunk
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            position = choice.get("index", 0)
            holder, key = self._slot(choice)
            text = holder.get(key)
            safe = self.maskers.feed(position, text) if isinstance(text, str) and text else None
            if choice.get("finish_reason") is not None:
                safe = (safe or "") + self.maskers.finish(position)
            if safe is None or safe == text or not (safe or text):
                continue
            holder[key] = safe
            changed = True
        return [b"data: " + _encode(chunk) + b"\n\n"] if changed else [event]

    def end(self) -> list[bytes]:
        rests = {position: text for position, text in self.maskers.finish_all().items() if text}
        if not rests:
            return []
        envelope = {name: self.last[name] for name in ("id", "object", "created", "model") if name in self.last}
        if self.completion:
            choices = [{"index": i, "text": text, "logprobs": None, "finish_reason": None} for i, text in rests.items()]
        else:
            choices = [{"index": i, "delta": {"content": text}, "finish_reason": None} for i, text in rests.items()]
        return [b"data: " + _encode({**envelope, "choices": choices}) + b"\n\n"]

    def error(self, message: str) -> bytes:
        return b"data: " + _encode({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                               "code": "guardrail_blocked"}}) + b"\n\n"


class _MessagesScreen:
    """Anthropic events: `text_delta`s per content block; what a block held back comes out as one more
    `content_block_delta` right before its `content_block_stop`."""

    def __init__(self, maskers: _Maskers) -> None:
        self.maskers = maskers

    def event(self, event: bytes) -> list[bytes]:
        if event.startswith(b"event: content_block_delta"):
            data = _data(event)
            if data is None:
                return []
            delta = data.get("delta") or {}
            if delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str):
                return [event]
            safe = self.maskers.feed(data.get("index", 0), delta["text"])
            if safe == delta["text"]:
                return [event]
            delta["text"] = safe
            return [sse_event("content_block_delta", data)]
        if event.startswith(b"event: content_block_stop"):
            index = (_data(event) or {}).get("index", 0)
            return self._rest(index, self.maskers.finish(index)) + [event]
        if event.startswith((b"event: message_delta", b"event: message_stop")):
            return self.end() + [event]
        return [event]

    def _rest(self, index: Any, text: str) -> list[bytes]:
        if not text:
            return []
        return [sse_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "text_delta", "text": text}})]

    def end(self) -> list[bytes]:
        return [out for index, text in self.maskers.finish_all().items() for out in self._rest(index, text)]

    def error(self, message: str) -> bytes:
        return sse_event("error", {"type": "error", "error": {"type": "invalid_request_error", "message": message}})


class _ResponsesScreen:
    """Responses API events: `response.output_text.delta`s per (item, content part); what a part held back
    comes out as one more delta right before its `.done`, and later events are renumbered after it. The
    `.done` events and the final snapshot carry whole texts: masked as whole answers are."""

    _SNAPSHOTS = (b"event: response.output_text.done", b"event: response.content_part.done",
                  b"event: response.output_item.done", b"event: response.completed", b"event: response.incomplete",
                  b"event: response.failed")

    def __init__(self, maskers: _Maskers) -> None:
        self.maskers = maskers
        self.shift = 0  # events this screen added so far: later sequence numbers move by as many
        self.sequence = -1

    def _emit(self, data: dict[str, Any]) -> bytes:
        if isinstance(data.get("sequence_number"), int):
            data["sequence_number"] += self.shift
            self.sequence = data["sequence_number"]
        return sse_event(data["type"], data)

    def event(self, event: bytes) -> list[bytes]:
        if not event.startswith(b"event: response.") or b"data:" not in event:
            return [event]
        data = _data(event)
        if data is None:
            return []
        if not isinstance(data.get("type"), str):
            return [event]
        kind = data["type"]
        out: list[bytes] = []
        if kind == "response.output_text.delta" and isinstance(data.get("delta"), str):
            data["delta"] = self.maskers.feed((data.get("item_id"), data.get("content_index")), data["delta"])
        elif event.startswith(self._SNAPSHOTS):
            if kind == "response.output_text.done":
                out += self._rest(data)
            self._mask_snapshot(data)
        elif self.shift == 0:
            return [event]
        out.append(self._emit(data))
        return out

    def _rest(self, done: dict[str, Any]) -> list[bytes]:
        text = self.maskers.finish((done.get("item_id"), done.get("content_index")))
        if not text:
            return []
        delta = {"type": "response.output_text.delta", "sequence_number": done.get("sequence_number", 0),
                 "item_id": done.get("item_id"), "output_index": done.get("output_index"),
                 "content_index": done.get("content_index"), "delta": text, "logprobs": []}
        out = self._emit(delta)
        self.shift += 1
        return [out]

    def _mask_snapshot(self, data: dict[str, Any]) -> None:
        # Whole texts: the same masking as a whole answer (equal to the masked stream); counted once, in
        # the deltas, so these findings are not recorded again.
        slots: list[Slot] = []
        if data["type"] == "response.output_text.done" and isinstance(data.get("text"), str):
            slots.append((data, "text"))
        part = data.get("part")
        if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
            slots.append((part, "text"))
        item = data.get("item")
        if isinstance(item, dict):
            slots += _responses_reply({"output": [item]})
        response = data.get("response")
        if isinstance(response, dict):
            slots += _responses_reply(response)
        Screening().run(self.maskers.guard.scanner, iter(slots))

    def end(self) -> list[bytes]:
        self.maskers.finish_all()  # a stream cut short: nothing more of it is sent
        return []

    def error(self, message: str) -> bytes:
        return sse_event("error", {"type": "error", "code": "guardrail_blocked", "message": message, "param": None,
                                   "sequence_number": self.sequence + 1})


_SHAPES = {
    "chat": _ChatScreen,
    "completion": lambda maskers: _ChatScreen(maskers, completion=True),
    "messages": _MessagesScreen,
    "responses": _ResponsesScreen,
}
