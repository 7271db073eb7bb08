"""POST /zitadel/webhook: Zitadel Actions v2 events, authenticated by their signature alone."""

from __future__ import annotations

from litestar import Controller, Request, post

from app.provisioning import service
from app.provisioning.service import WebhookReceipt


class ZitadelWebhookController(Controller):
    path = "/zitadel"
    tags = ["provisioning"]

    @post("/webhook", status_code=200)
    async def webhook(self, request: Request) -> WebhookReceipt:
        # The raw bytes: the signature covers them exactly as sent.
        return await service.receive(await request.body(), request.headers.get("zitadel-signature"))
