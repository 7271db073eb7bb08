"""/v1/* handlers: read the body, authenticate, call the gateway service once."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile

from app.gateway import dialects, formats
from app.gateway.hooks import ERROR_HANDLERS, QUIET, counted, unique_request_id
from app.gateway.requests import parse_body, refuse_routing_overrides
from app.gateway.service import GatewayService
from app.lib.errors import GatewayError, InvalidRequest
from app.runtime import runtime


def _service() -> GatewayService:
    return GatewayService(runtime())


class ChatController(Controller):
    tags = ["data plane"]
    before_request, exception_handlers, opt = unique_request_id, ERROR_HANDLERS, QUIET

    @post(["/v1/chat/completions", "/chat/completions"], status_code=200)
    async def chat_completions(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        body = parse_body(await request.body())
        return await _service().chat_completion(principal, body)

    @post(["/v1/completions", "/completions"], status_code=200)
    async def completions(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().text_completion(principal, parse_body(await request.body()))

    @post(["/v1/embeddings", "/embeddings"], status_code=200)
    async def embeddings(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        body = parse_body(await request.body())
        return await _service().embeddings(principal, body)

    @get(["/v1/models", "/models"])
    async def models(self, request: Request) -> dict[str, Any]:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().list_models(principal)


class ForwardedController(Controller):
    """Endpoints passed on to the vendors that have them; others answer 400 `unsupported_capability`."""

    tags = ["data plane"]
    before_request, exception_handlers, opt = unique_request_id, ERROR_HANDLERS, QUIET

    @post(["/v1/images/generations", "/images/generations"], status_code=200)
    async def images(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().forward(principal, parse_body(await request.body()), "image_generation")

    @post(["/v1/audio/speech", "/audio/speech"], status_code=200)
    async def speech(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().forward(principal, parse_body(await request.body()), "audio_speech")

    @post(["/v1/audio/transcriptions", "/audio/transcriptions"], status_code=200)
    async def transcriptions(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().forward(principal, await _multipart(request), "audio_transcription")

    @post(["/v1/moderations", "/moderations"], status_code=200)
    async def moderations(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().forward(principal, parse_body(await request.body()), "moderation")

    @post(["/v1/rerank", "/rerank", "/v2/rerank"], status_code=200)
    async def rerank(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().forward(principal, parse_body(await request.body()), "rerank")


async def _multipart(request: Request) -> dict[str, Any]:
    """An audio upload: its form fields, and `file` as (filename, bytes, content type)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Send the audio as multipart/form-data with a 'file' field", param="file")
    form = await request.form()
    body: dict[str, Any] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            body[name] = (value.filename or "audio", await value.read(), value.content_type or "application/octet-stream")
        else:
            body[name] = value
    if "file" not in body:
        raise InvalidRequest("'file' is required", param="file", code="missing_required_parameter")
    refuse_routing_overrides(body)
    return body


class DialectController(Controller):
    """The OpenAI Responses API and the Anthropic Messages API, on every provider."""

    tags = ["data plane"]
    before_request, exception_handlers, opt = unique_request_id, ERROR_HANDLERS, QUIET

    @post(["/v1/responses", "/responses"], status_code=200)
    async def responses(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        body = parse_body(await request.body())
        return await dialects.serve(_service(), dialects.RESPONSES, principal, body, dict(request.headers))

    @post(["/v1/messages", "/messages"], status_code=200)
    async def messages(self, request: Request) -> Response:
        # Anthropic's SDK (and Claude Code) expect Anthropic's error shape, not OpenAI's.
        try:
            principal = await runtime().auth.authenticate(request.headers)
            body = parse_body(await request.body())
            return await dialects.serve(_service(), dialects.MESSAGES, principal, body, dict(request.headers))
        except GatewayError as exc:
            return _anthropic_error(exc)

    @post(["/v1/messages/count_tokens", "/messages/count_tokens"], status_code=200)
    async def count_tokens(self, request: Request) -> Response:
        try:
            principal = await runtime().auth.authenticate(request.headers)
            body = parse_body(await request.body())
            counted = await dialects.count_message_tokens(_service(), principal, body, dict(request.headers))
        except GatewayError as exc:
            return _anthropic_error(exc)
        return Response(counted)


def _anthropic_error(exc: GatewayError) -> Response:
    counted(exc)
    body = formats.anthropic_error_body(exc.status, exc.message, request_id=exc.headers.get("x-request-id"))
    return Response(body, status_code=exc.status, headers=exc.headers)
