"""`GET /audit/logs`: the audit trail of the caller's account, newest first (super admin: every account)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.audit import service
from app.audit.schemas import AuditLogPage, AuditLogQuery
from app.auth.principal import Principal


class AuditLogController(Controller):
    path = "/audit"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["audit"]

    @get("/logs")
    async def logs(
        self, principal: Principal, actor: str | None = None, actor_type: str | None = None,
        action: str | None = None, target_type: str | None = None, target_id: str | None = None,
        outcome: str | None = None, start_time: str | None = None, end_time: str | None = None,
        limit: int = Parameter(default=service.DEFAULT_LIMIT), cursor: str | None = None,
    ) -> AuditLogPage:
        query = AuditLogQuery(actor, actor_type, action, target_type, target_id, outcome, start_time, end_time,
                              limit, cursor)
        return await service.audit_logs(query, principal)
