"""/v1/responses and /v1/messages: native where the deployment's vendor speaks that API, translated
onto chat (app/gateway/formats) everywhere else; routed, limited and recorded like chat."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.response import Stream

from app.auth.principal import Principal
from app.gateway import formats
from app.gateway.requests import require_model
from app.gateway.service import GatewayService, _Call, counts_of, supports
from app.gateway.streaming import relay, relay_native, translated
from app.guardrails.gateway import screen_request
from app.providers.base import UpstreamReply, Usage
from app.providers.openai_compatible import responses_usage_of
from app.providers.registry import get_provider
from app.tenancy.context import require_account

_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _responses_event_usage(event: bytes) -> Usage | None:
    # The final event (response.completed / .incomplete) carries the whole response with its usage.
    if not event.startswith((b"event: response.completed", b"event: response.incomplete")):
        return None
    data = event.split(b"data: ", 1)[1] if b"data: " in event else b""
    try:
        return responses_usage_of(_encode(_decode(data).get("response", {})))
    except msgspec.DecodeError:
        return None


class Dialect:
    """What differs between the Responses and Messages endpoints; the flow around it is shared."""

    call_type: str
    native: str
    native_stream: str

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def from_chat(self, chat: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]: ...

    def stream_translator(self, request: dict[str, Any]): ...

    def native_usage(self, event: bytes) -> Usage | None:
        return None

    def native_kwargs(self, headers: dict[str, str]) -> dict[str, Any]:
        return {}


class ResponsesDialect(Dialect):
    call_type, native, native_stream = "responses", "responses", "stream_responses"

    def to_chat(self, body):
        return formats.chat_request_from_responses(body)

    def from_chat(self, chat, request):
        return formats.responses_from_chat(chat, request=request, response_id=formats.new_response_id())

    def stream_translator(self, request):
        return formats.ResponsesStreamTranslator(request, response_id=formats.new_response_id())

    def native_usage(self, event):
        return _responses_event_usage(event)


class MessagesDialect(Dialect):
    call_type, native, native_stream = "messages", "messages", "stream_messages"

    def to_chat(self, body):
        return formats.chat_request_from_messages(body)

    def from_chat(self, chat, request):
        return formats.messages_from_chat(chat, request=request)

    def stream_translator(self, request):
        return formats.MessagesStreamTranslator(request)

    def native_kwargs(self, headers):
        beta = headers.get("anthropic-beta")
        return {"beta": beta} if beta else {}


RESPONSES, MESSAGES = ResponsesDialect(), MessagesDialect()


async def serve(service: GatewayService, dialect: Dialect, principal: Principal, body: dict[str, Any],
                headers: dict[str, str]) -> Response:
    call = _Call(principal, dialect.call_type, require_model(body), stream=bool(body.get("stream")))
    guard = await screen_request(call, body)  # masks in place, before anything reads the body
    request = dict(body)  # the caller's own body: its model name is what answers echo back
    chat_body = dialect.to_chat(body)  # refuses what no translation can carry, before any upstream call
    http = service.rt.http
    extra = dialect.native_kwargs(headers)

    if not call.stream:
        async def whole(provider, deployment, attempt_body) -> UpstreamReply:
            if supports(provider, dialect.native, deployment):
                return await getattr(provider, dialect.native)(http, deployment, attempt_body, **extra)
            reply = await provider.chat(http, deployment, {**chat_body, "model": deployment.upstream_model})
            answer = dialect.from_chat(_decode(reply.body), request)
            return UpstreamReply(_encode(answer), reply.usage)

        reply = await service._run(call, body, None, whole)
        await service._finish(call, "success", counts_of(reply.usage))
        return Response(guard.reply(reply.body, dialect.call_type), media_type=_JSON, headers=call.headers)

    async def opened(provider, deployment, attempt_body):
        if supports(provider, dialect.native_stream, deployment):
            return True, await getattr(provider, dialect.native_stream)(http, deployment, attempt_body, **extra)
        stream_body = {**chat_body, "model": deployment.upstream_model, "stream": True}
        return False, await provider.stream_chat(http, deployment, stream_body)

    native, upstream = await service._run(call, body, None, opened)

    async def settle(usage: Usage | None, status: str, events: list[bytes] | None = None) -> None:
        await service._stream_ended(call, chat_body, usage, status, events or [])

    if native:
        events = guard.stream(relay_native(upstream, usage_of=dialect.native_usage, on_end=settle,
                                           on_first_chunk=call.first_chunk), dialect.call_type)
    else:
        chat_events = guard.stream(relay(upstream, strip_usage=False,
                                         on_end=lambda usage, events, status: settle(usage, status, events),
                                         on_first_chunk=call.first_chunk), "chat")
        events = translated(chat_events, dialect.stream_translator(request))
    return Stream(events, media_type="text/event-stream", headers={**_SSE_HEADERS, **call.headers})


async def count_message_tokens(service: GatewayService, principal: Principal, body: dict[str, Any],
                               headers: dict[str, str]) -> dict[str, int]:
    """The vendor's own count when it has one (no usage is recorded: nothing is generated), else ours."""
    model = require_model(body)
    await screen_request(_Call(principal, "count_tokens", model), body)  # the vendor's count sees the prompt too
    models = await service.rt.catalog.models_of(require_account())
    attempts = service.rt.router.attempts(models.groups, models.settings, model, principal.models)
    async for deployment in attempts:
        provider = get_provider(deployment.provider)
        if supports(provider, "count_tokens", deployment):
            return await provider.count_tokens(service.rt.http, deployment, {**body, "model": deployment.upstream_model},
                                               **MESSAGES.native_kwargs(headers))
        break
    return {"input_tokens": formats.count_tokens_estimate(body)}
