"""What the caller's account spent: /spend/logs (request by request), /global/spend/report (per day and
group), /spend/summary (the caller's own scope; the one spend route any key of the account may call)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.admin.spend import service
from app.admin.spend.schemas import SpendLog, SpendLogQuery, SpendReportQuery, SpendReportRow, SpendSummary
from app.auth.principal import Principal


class SpendController(Controller):
    path = "/"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["spend"]

    @get("/spend/logs")
    async def logs(
        self, principal: Principal, api_key: str | None = None, user_id: str | None = None,
        team_id: str | None = None, request_id: str | None = None, start_date: str | None = None,
        end_date: str | None = None, page: int = Parameter(default=1, ge=1),
        page_size: int = Parameter(default=100, ge=1, le=1000),
    ) -> list[SpendLog]:
        return await service.spend_logs(SpendLogQuery(api_key, user_id, team_id, request_id, start_date, end_date,
                                                      page, page_size), principal)

    @get("/global/spend/report")
    async def report(self, principal: Principal, start_date: str | None = None, end_date: str | None = None,
                     group_by: str = "model") -> list[SpendReportRow]:
        return await service.spend_report(SpendReportQuery(start_date, end_date, group_by), principal)

    # Any key of the account (rbac: not anchored); the service narrows it to the caller's scope.
    @get("/spend/summary")
    async def summary(self, principal: Principal, start_date: str | None = None,
                      end_date: str | None = None) -> SpendSummary:
        return await service.spend_summary(principal, start_date, end_date)
