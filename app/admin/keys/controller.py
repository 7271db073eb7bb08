"""/key/*: virtual keys of the caller's account."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.admin.keys import service
from app.admin.keys.schemas import (GeneratedKey, KeyDelete, KeyGenerate, KeyInfo, KeyInfoResponse, KeyListResponse,
                                    KeysDeleted, KeyUpdate)
from app.auth.principal import Principal


class KeyController(Controller):
    path = "/key"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["keys"]

    @post("/generate", status_code=200)
    async def generate(self, principal: Principal, data: KeyGenerate) -> GeneratedKey:
        return await service.generate_key(data, principal)

    @post("/update", status_code=200)
    async def update(self, principal: Principal, data: KeyUpdate) -> KeyInfo:
        return await service.update_key(data, principal)

    @post("/delete", status_code=200)
    async def remove(self, principal: Principal, data: KeyDelete) -> KeysDeleted:
        return KeysDeleted(deleted_keys=await service.delete_keys(data.keys, principal))

    @get("/info")
    async def info(self, principal: Principal, key: str | None = None) -> KeyInfoResponse:
        info = await service.key_info(key, principal)
        return KeyInfoResponse(key=info.token, info=info)

    @get("/list")
    async def list(
        self, principal: Principal, page: int = Parameter(default=1, ge=1),
        size: int = Parameter(default=50, ge=1, le=1000), user_id: str | None = None, team_id: str | None = None,
        return_full_object: bool = False,
    ) -> KeyListResponse:
        infos, total = await service.list_keys(page, size, user_id, team_id, principal)
        keys = infos if return_full_object else [str(info.token) for info in infos]
        return KeyListResponse(keys=keys, total_count=total, current_page=page,
                               total_pages=service.total_pages(total, size))
