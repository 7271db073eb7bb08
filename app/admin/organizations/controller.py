"""/organization/*: organizations of the caller's account."""

from __future__ import annotations

from litestar import Controller, HttpMethod, delete, get, post, route

from app.admin.access import PRINCIPAL, permitted
from app.admin.organizations import service
from app.admin.organizations.schemas import (Organization, OrganizationCreate, OrganizationDelete, OrganizationInfo,
                                             OrganizationsDeleted, OrganizationUpdate)
from app.auth.principal import Principal


class OrganizationController(Controller):
    path = "/organization"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["organizations"]

    @post("/new", status_code=200)
    async def create(self, principal: Principal, data: OrganizationCreate) -> Organization:
        return await service.create_organization(data, principal)

    @get("/info")
    async def info(self, principal: Principal, organization_id: str) -> OrganizationInfo:
        return await service.organization_info(organization_id, principal)

    @get("/list")
    async def list(self, principal: Principal) -> list[Organization]:
        return await service.list_organizations(principal)

    # POST is the contract; LiteLLM's own clients send PATCH.
    @route("/update", http_method=[HttpMethod.POST, HttpMethod.PATCH], status_code=200)
    async def update(self, principal: Principal, data: OrganizationUpdate) -> Organization:
        return await service.update_organization(data, principal)

    @delete("/delete", status_code=200)
    async def remove(self, principal: Principal, data: OrganizationDelete) -> OrganizationsDeleted:
        deleted = await service.delete_organizations(data.organization_ids, principal)
        return OrganizationsDeleted(deleted_organizations=deleted)
