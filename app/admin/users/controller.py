"""/user/*: users of the caller's account."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.admin.users import service
from app.admin.users.schemas import User, UserCreate, UserDelete, UserInfoResponse, UserList, UsersDeleted, UserUpdate
from app.auth.principal import Principal


class UserController(Controller):
    path = "/user"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["users"]

    @post("/new", status_code=200)
    async def create(self, principal: Principal, data: UserCreate) -> User:
        return await service.create_user(data, principal)

    @get("/info")
    async def info(self, principal: Principal, user_id: str | None = None) -> UserInfoResponse:
        return await service.user_info(user_id, principal)

    @get("/list")
    async def list(self, principal: Principal, page: int = Parameter(default=1, ge=1),
                   page_size: int = Parameter(default=25, ge=1, le=100), role: str | None = None) -> UserList:
        return await service.list_users(page, page_size, role, principal)

    @post("/update", status_code=200)
    async def update(self, principal: Principal, data: UserUpdate) -> User:
        return await service.update_user(data, principal)

    @post("/delete", status_code=200)
    async def remove(self, principal: Principal, data: UserDelete) -> UsersDeleted:
        users, keys = await service.delete_users(data.user_ids, principal)
        return UsersDeleted(deleted_users=users, deleted_keys=keys)
