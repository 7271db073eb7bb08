"""/router/settings: how the caller's account routes between deployments."""

from __future__ import annotations

from litestar import Controller, get, post

from app.admin.access import PRINCIPAL, permitted
from app.admin.router import service
from app.auth.principal import Principal
from app.gateway.routing.settings import RouterSettings


class RouterSettingsController(Controller):
    path = "/router/settings"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["routing"]

    @get("/")
    async def show(self, principal: Principal) -> RouterSettings:
        return await service.get_settings()

    @post("/", status_code=200)
    async def replace(self, principal: Principal, data: RouterSettings) -> RouterSettings:
        return await service.replace_settings(data)
