"""/model/*: an account's deployments."""

from __future__ import annotations

from litestar import Controller, get, post

from app.admin.access import PRINCIPAL, permitted
from app.admin.models import service
from app.admin.models.schemas import Deleted, Model, ModelCreate, ModelDelete, ModelList
from app.auth.principal import Principal


class ModelController(Controller):
    path = "/model"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["models"]

    @post("/new", status_code=200)
    async def create(self, principal: Principal, data: ModelCreate) -> Model:
        return await service.create_model(data)

    @get("/info")
    async def info(self, principal: Principal, litellm_model_id: str | None = None) -> ModelList:
        return ModelList(data=await service.list_models(litellm_model_id))

    @post("/delete", status_code=200)
    async def remove(self, principal: Principal, data: ModelDelete) -> Deleted:
        return Deleted(deleted=await service.delete_model(data.id))
