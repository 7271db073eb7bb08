"""/copilot/guardrails: the caller's account's guards (secret detection, PII, custom patterns), its
custom patterns, and the log of what the guards found."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.auth.principal import Principal
from app.guardrails import service
from app.guardrails.schemas import (GuardConfig, GuardrailsConfig, GuardToggle, GuardUpdate, HitPage, HitQuery,
                                    Pattern, PatternCreate, PatternUpdate, SettingsUpdate)


class GuardrailsController(Controller):
    path = "/copilot/guardrails"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["guardrails"]

    @get("/config")
    async def config(self, principal: Principal) -> GuardrailsConfig:
        return await service.show_config()

    @put("/config", status_code=200)
    async def update_settings(self, principal: Principal, data: SettingsUpdate) -> GuardrailsConfig:
        return await service.update_settings(data)

    @post("/config/{guard_type:str}/toggle", status_code=200)
    async def toggle(self, principal: Principal, guard_type: str, data: GuardToggle) -> GuardConfig:
        return await service.toggle(guard_type, data)

    @put("/config/{guard_type:str}", status_code=200)
    async def update_guard(self, principal: Principal, guard_type: str, data: GuardUpdate) -> GuardConfig:
        return await service.update_guard(guard_type, data)

    @get("/patterns")
    async def patterns(self, principal: Principal) -> list[Pattern]:
        return await service.list_patterns()

    @post("/patterns", status_code=201)
    async def create_pattern(self, principal: Principal, data: PatternCreate) -> Pattern:
        return await service.create_pattern(data)

    @patch("/patterns/{pattern_id:str}", status_code=200)
    async def update_pattern(self, principal: Principal, pattern_id: str, data: PatternUpdate) -> Pattern:
        return await service.update_pattern(pattern_id, data)

    @delete("/patterns/{pattern_id:str}", status_code=200)
    async def delete_pattern(self, principal: Principal, pattern_id: str) -> Pattern:
        return await service.delete_pattern(pattern_id)

    @get("/audit")
    async def hits(
        self, principal: Principal, guard_type: str | None = None, name: str | None = None,
        action: str | None = None, direction: str | None = None, start_date: str | None = None,
        end_date: str | None = None, page: int = Parameter(default=1, ge=1),
        page_size: int = Parameter(default=100, ge=1, le=1000),
    ) -> HitPage:
        return await service.list_hits(HitQuery(guard_type, name, action, direction, start_date, end_date, page,
                                                page_size))
