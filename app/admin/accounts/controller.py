"""/accounts: the super admin's view of tenants."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post

from app.admin.access import PRINCIPAL, permitted
from app.admin.accounts import service
from app.admin.accounts.schemas import Account, AccountCreate, AccountList, AccountUpdate, AdminAdd
from app.auth.principal import Principal


class AccountController(Controller):
    path = "/accounts"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["accounts"]

    @post("/", status_code=201)
    async def create(self, principal: Principal, data: AccountCreate) -> Account:
        return await service.create_account(data)

    @get("/")
    async def list_all(self, principal: Principal) -> AccountList:
        accounts = await service.list_accounts()
        return AccountList(accounts=accounts, total=len(accounts))

    @get("/{account_id:uuid}")
    async def show(self, principal: Principal, account_id: UUID) -> Account:
        return await service.get_account(account_id)

    @patch("/{account_id:uuid}")
    async def update(self, principal: Principal, account_id: UUID, data: AccountUpdate) -> Account:
        return await service.update_account(account_id, data)

    @delete("/{account_id:uuid}", status_code=200)
    async def remove(self, principal: Principal, account_id: UUID) -> Account:
        return await service.delete_account(account_id)

    @post("/{account_id:uuid}/admins", status_code=201)
    async def add_admin(self, principal: Principal, account_id: UUID, data: AdminAdd) -> Account:
        return await service.add_admin(account_id, data.email)

    @delete("/{account_id:uuid}/admins/{email:str}", status_code=200)
    async def remove_admin(self, principal: Principal, account_id: UUID, email: str) -> Account:
        return await service.remove_admin(account_id, email)
