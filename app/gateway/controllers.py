"""/v1/* handlers: read the body, authenticate, call the gateway service once."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from app.gateway.requests import parse_body
from app.gateway.service import GatewayService
from app.runtime import runtime


def _service() -> GatewayService:
    rt = runtime()
    return GatewayService(rt)


class ChatController(Controller):
    tags = ["data plane"]

    @post(["/v1/chat/completions", "/chat/completions"], status_code=200)
    async def chat_completions(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        body = parse_body(await request.body())
        return await _service().chat_completion(principal, body)

    @post(["/v1/embeddings", "/embeddings"], status_code=200)
    async def embeddings(self, request: Request) -> Response:
        principal = await runtime().auth.authenticate(request.headers)
        body = parse_body(await request.body())
        return await _service().embeddings(principal, body)

    @get(["/v1/models", "/models"])
    async def models(self, request: Request) -> dict[str, Any]:
        principal = await runtime().auth.authenticate(request.headers)
        return await _service().list_models(principal)
