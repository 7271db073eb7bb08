"""/spend/logs: what the caller's account spent, request by request."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.admin.access import ACCOUNT_ADMIN
from app.admin.spend import service
from app.admin.spend.schemas import SpendLog, SpendLogQuery
from app.auth.principal import Principal


class SpendController(Controller):
    path = "/spend"
    dependencies = ACCOUNT_ADMIN
    tags = ["spend"]

    @get("/logs")
    async def logs(
        self, principal: Principal, api_key: str | None = None, user_id: str | None = None,
        team_id: str | None = None, request_id: str | None = None, start_date: str | None = None,
        end_date: str | None = None, page: int = Parameter(default=1, ge=1),
        page_size: int = Parameter(default=100, ge=1, le=1000),
    ) -> list[SpendLog]:
        return await service.spend_logs(SpendLogQuery(api_key, user_id, team_id, request_id, start_date, end_date,
                                                      page, page_size))
