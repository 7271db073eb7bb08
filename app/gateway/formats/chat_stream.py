"""Reading the internal chat format as another wire format needs it: a stream as ordered pieces,
usage as token counts, and the `event: <type>` SSE framing both vendor formats share."""

from __future__ import annotations

import os
from typing import Any, Literal

import msgspec

from app.billing.pricing import TokenCounts
from app.providers.base import Usage

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

PieceKind = Literal["reasoning", "text", "refusal", "tool"]


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(24).hex()}"


def sse_event(event_type: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


def token_counts(usage: Usage | dict[str, Any] | None) -> TokenCounts | None:
    """The counts of a chat `usage` (a decoded dict or the relay's struct); None when there is none."""
    if usage is None:
        return None
    if isinstance(usage, dict):
        try:
            usage = msgspec.convert(usage, Usage)
        except msgspec.ValidationError:
            return None
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return TokenCounts(
        prompt=usage.prompt_tokens, completion=usage.completion_tokens,
        cached=(prompt.cached_tokens or 0) if prompt else 0,
        cache_write=(prompt.cache_write_tokens or 0) if prompt else 0,
        reasoning=(completion.reasoning_tokens or 0) if completion else 0,
    )


class Piece(msgspec.Struct, frozen=True):
    """One fragment of what the model said. For `tool`: `index` tells the call apart; `call_id` and
    `name` come with its first fragment (usually), `text` holds a piece of its JSON arguments."""

    kind: PieceKind
    text: str = ""
    index: int = 0
    call_id: str | None = None
    name: str | None = None


def pieces_of(chunk: dict[str, Any]) -> list[Piece]:
    """The fragments of the first choice of a `chat.completion.chunk`, in the order they are meant."""
    delta = _first_choice(chunk).get("delta") or {}
    pieces = [Piece(kind, text) for kind, text in
              (("reasoning", delta.get("reasoning_content")), ("text", delta.get("content")),
               ("refusal", delta.get("refusal")))
              if isinstance(text, str) and text]
    for call in delta.get("tool_calls") or ():
        function = call.get("function") or {}
        pieces.append(Piece("tool", function.get("arguments") or "", index=call.get("index") or 0,
                            call_id=call.get("id") or None, name=function.get("name") or None))
    return pieces


def finish_reason_of(chunk: dict[str, Any]) -> str | None:
    return _first_choice(chunk).get("finish_reason")


def _first_choice(chunk: dict[str, Any]) -> dict[str, Any]:
    # Vendor formats have no `n`: only choice 0 is translated.
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and (choice.get("index") or 0) == 0:
            return choice
    return {}


class ChatStreamTranslator:
    """Turns the chat stream the relay yields into another format's SSE events.

    Feed it events (`translate(event_bytes)`) or decoded chunks (`feed(chunk)`); `finish()` ends the
    answer (also on `data: [DONE]`), `fail(message)` ends it with the format's error. Each call returns
    the events to send now. Subclasses say how to open, take a piece, close and fail.
    """

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | dict[str, Any] | None = None
        self._started = False
        self._ended = False

    def translate(self, event: bytes) -> list[bytes]:
        if event.startswith(b"data: [DONE]"):
            return self.finish()
        if not event.startswith(b"data: {"):
            return []
        try:
            chunk = _decode(event[6:])
        except msgspec.DecodeError:
            return []
        error = chunk.get("error") if isinstance(chunk, dict) else None
        if isinstance(error, dict):
            return self.fail(str(error.get("message") or "The upstream stream failed"))
        return self.feed(chunk) if isinstance(chunk, dict) else []

    def start(self) -> list[bytes]:
        """The opening events (sent once; `feed` sends them first if nobody asked earlier)."""
        if self._started:
            return []
        self._started = True
        return self._opening()

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        if self._ended:
            return []
        events = self.start()
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for piece in pieces_of(chunk):
            events += self._take(piece)
        self.finish_reason = finish_reason_of(chunk) or self.finish_reason
        return events

    def finish(self, usage: Usage | dict[str, Any] | None = None) -> list[bytes]:
        """Close the answer; `usage` (when given) wins over the usage chunk seen in the stream."""
        if self._ended:
            return []
        self._ended = True
        if usage is not None:
            self.usage = usage
        return self.start() + self._closing()

    def fail(self, message: str) -> list[bytes]:
        if self._ended:
            return []
        self._ended = True
        return self.start() + self._failure(message)

    def _opening(self) -> list[bytes]:
        raise NotImplementedError

    def _take(self, piece: Piece) -> list[bytes]:
        raise NotImplementedError

    def _closing(self) -> list[bytes]:
        raise NotImplementedError

    def _failure(self, message: str) -> list[bytes]:
        raise NotImplementedError
