"""/email/smtp: the caller's account's own SMTP server."""

from __future__ import annotations

from litestar import Controller, delete, get, put

from app.admin.access import PRINCIPAL, permitted
from app.admin.email import service
from app.admin.email.schemas import SmtpSettings, SmtpSettingsUpdate
from app.auth.principal import Principal


class EmailSettingsController(Controller):
    path = "/email/smtp"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["email"]

    @get("/")
    async def show(self, principal: Principal) -> SmtpSettings:
        return await service.show()

    @put("/", status_code=200)
    async def update(self, principal: Principal, data: SmtpSettingsUpdate) -> SmtpSettings:
        return await service.update(data)

    @delete("/", status_code=200)
    async def remove(self, principal: Principal) -> SmtpSettings:
        return await service.remove()
