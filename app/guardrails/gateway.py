"""What the gateway calls: `screen_request` scans every inbound prompt of a request before it is routed
or admitted (mask: the upstream gets the masked text; block: 400 `guardrail_blocked`, no upstream call,
no limits used; log: unchanged), and returns the request's `Guard` for its answer (app/guardrails/answers.py).

An account with no guard on costs one cached dictionary lookup. A clean prompt is scanned and forwarded
as parsed: the body is only changed where something was masked. Each hit becomes a guardrails audit row
(app/guardrails/hits.py) and counts in `alchemi_guardrail_hits_total`; the matched text goes nowhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter as Tally
from collections.abc import AsyncIterator, Iterator
from typing import Any

from app.guardrails.hits import HitRecord
from app.guardrails.scanner import Finding, Scanner
from app.lib.errors import InvalidRequest
from app.lib.metrics import REGISTRY, Counter
from app.runtime import runtime
from app.tenancy.context import require_account

HITS = REGISTRY.register(Counter("alchemi_guardrail_hits_total", "Guardrail matches by guard type and action",
                                 ("guard_type", "action")))

Slot = tuple[Any, Any]  # (dict or list, key or index) holding a string


def content_slots(holder: dict[str, Any], key: str) -> Iterator[Slot]:
    """A content field as every wire format has it: a string, or a list of parts whose `text` is text
    (chat text parts, Responses input/output_text, Anthropic text blocks); Anthropic `tool_result`
    blocks nest their own content."""
    value = holder.get(key)
    if isinstance(value, str):
        yield holder, key
    elif isinstance(value, list):
        for part in value:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                yield part, "text"
            elif part.get("type") == "tool_result":
                yield from content_slots(part, "content")


def _strings(holder: dict[str, Any], key: str) -> Iterator[Slot]:
    """`prompt` / `input`: a string or a list of strings (token-id arrays are not text and are skipped)."""
    value = holder.get(key)
    if isinstance(value, str):
        yield holder, key
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index


def _chat(body: dict[str, Any]) -> Iterator[Slot]:
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            yield from content_slots(message, "content")


def _responses(body: dict[str, Any]) -> Iterator[Slot]:
    if isinstance(body.get("instructions"), str):
        yield body, "instructions"
    value = body.get("input")
    if isinstance(value, str):
        yield body, "input"
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            yield from content_slots(item, "content")
            if item.get("type") == "function_call_output" and isinstance(item.get("output"), str):
                yield item, "output"


def _messages(body: dict[str, Any]) -> Iterator[Slot]:
    yield from content_slots(body, "system")
    yield from _chat(body)


# Where each call type keeps the caller's text.
INBOUND = {
    "chat": _chat,
    "completion": lambda body: _strings(body, "prompt"),
    "embeddings": lambda body: _strings(body, "input"),
    "responses": _responses,
    "messages": _messages,
    "count_tokens": _messages,  # /v1/messages/count_tokens: the vendor's count sees the prompt too
}


class Screening:
    """The findings of one pass over some texts, masked in place."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.blocked: Finding | None = None
        self.changed = False

    def run(self, scanner: Scanner, slots: Iterator[Slot]) -> Screening:
        for holder, key in slots:
            text = holder[key]
            if not text:
                continue
            verdict = scanner.scan(text)
            if verdict is None:
                continue
            self.findings.extend(verdict.findings)
            if verdict.blocked is not None:
                self.blocked = verdict.blocked
                return self  # nothing of it goes anywhere: no need to read on
            if verdict.text != text:
                holder[key] = verdict.text
                self.changed = True
        return self


def blocked_error(finding: Finding, direction: str, request_id: str) -> InvalidRequest:
    """Names the guard and the detector or pattern, never what it matched."""
    what = "request" if direction == "input" else "model's answer"
    return InvalidRequest(
        f"The {what} was blocked by this account's guardrails: {finding.guard_type} detected '{finding.name}'",
        code="guardrail_blocked", headers={"x-request-id": request_id})


class Guard:
    """One request's guardrails: records its hits; with `scan_responses`, also screens its answer."""

    def __init__(self, scanner: Scanner, call: Any, account_id: uuid.UUID) -> None:
        self.scanner = scanner
        self.call = call
        self.account_id = account_id

    @property
    def request_id(self) -> str:
        return self.call.request_id

    def record(self, findings: list[Finding] | tuple[Finding, ...], direction: str) -> None:
        """One hit row per guard × detector × action in this request (and direction), with its count."""
        if not findings:
            return
        tally = Tally((finding.guard_type, finding.name, finding.action) for finding in findings)
        call, now = self.call, time.time()
        principal, account, request_id = call.principal, str(self.account_id), call.request_id
        key_id = str(principal.key_id) if principal.key_id else None
        user_id = str(principal.user_id) if principal.user_id else None
        hits = []
        for (guard_type, name, action), count in tally.items():
            HITS.inc(guard_type, action, amount=count)
            # Any 128 random bits make a valid PostgreSQL uuid: the hit's id, made once, for idempotence.
            hits.append(HitRecord(os.urandom(16).hex(), account, now, guard_type, name, action, direction,
                                  call.call_type, call.model, count, request_id, key_id, user_id))
        runtime().guardrail_hits.add(hits)

    def reply(self, raw: bytes, shape: str) -> bytes:
        """A whole answer (`shape`: chat, completion, responses, messages) with its text masked; raises
        `guardrail_blocked` instead of returning a blocked one."""
        if not self.scanner.scans_responses:
            return raw
        from app.guardrails.answers import screen_reply

        return screen_reply(self, raw, shape)

    def stream(self, events: AsyncIterator[bytes], shape: str) -> AsyncIterator[bytes]:
        """A streamed answer's events with their text masked, event by event, each still well-formed."""
        if not self.scanner.scans_responses:
            return events
        from app.guardrails.answers import screen_stream

        return screen_stream(self, events, shape)


class _Off:
    """The guard of a request whose account runs no guardrails."""

    def reply(self, raw: bytes, shape: str) -> bytes:
        return raw

    def stream(self, events: AsyncIterator[bytes], shape: str) -> AsyncIterator[bytes]:
        return events


OFF = _Off()


async def screen_request(call: Any, body: dict[str, Any]) -> Guard | _Off:
    """Scan `body` (parsed, masked in place) for `call` (the gateway's `_Call`: its call type, model,
    principal and request id); raises 400 `guardrail_blocked` when a guard blocks it."""
    account_id = require_account()
    scanner = await runtime().guardrails.scanner_of(account_id)
    if scanner is None:
        return OFF
    guard = Guard(scanner, call, account_id)
    screening = Screening().run(scanner, INBOUND[call.call_type](body))
    guard.record(screening.findings, "input")
    if screening.blocked is not None:
        raise blocked_error(screening.blocked, "input", call.request_id)
    return guard
