"""Reading the usage ledger of the current account. Filters are over the ledger's own columns,
which outlive the keys, users and teams they name: an id that matches nothing gives no rows."""

from __future__ import annotations

from uuid import UUID

from app.admin import fields
from app.admin.spend.schemas import SpendLog, SpendLogQuery
from app.db.tables import UsageRecord, VirtualKey
from app.lib.errors import NotFound
from app.runtime import runtime
from app.tenancy.scoped import scoped


def _log(row: dict) -> SpendLog:
    return SpendLog(
        request_id=row["request_id"], call_type=row["call_type"], model=row["model"], model_group=row["model_group"],
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        total_tokens=row["total_tokens"], spend=float(row["cost"]), api_key=row["key_id"], user=row["user_id"],
        team_id=row["team_id"], account_id=row["account_id"], start_time=row["started_at"],
        end_time=row["ended_at"], status=row["status"], deployment_id=row["deployment_id"],
        provider=row["provider"], latency_ms=row["latency_ms"],
    )


async def _key_id(reference: str) -> UUID | None:
    """A key named by its id, or by its value (`sk-...`), which must be a key of this account."""
    if not reference.startswith("sk-"):
        return fields.identifier(reference, "api_key")
    row = await scoped(VirtualKey).select(VirtualKey.id).where(
        VirtualKey.key_hash == runtime().hasher.hash(reference)).first()
    if row is None:
        raise NotFound("No such key", param="api_key", code="key_not_found")
    return row["id"]


async def spend_logs(query: SpendLogQuery) -> list[SpendLog]:
    since, before = fields.period(query.start_date, query.end_date)
    select = scoped(UsageRecord).select().order_by(UsageRecord.started_at, UsageRecord.id, ascending=False)
    if query.api_key is not None:
        select = select.where(UsageRecord.key_id == await _key_id(query.api_key))
    if query.user_id is not None:
        select = select.where(UsageRecord.user_id == fields.identifier(query.user_id, "user_id"))
    if query.team_id is not None:
        select = select.where(UsageRecord.team_id == fields.identifier(query.team_id, "team_id"))
    if query.request_id is not None:
        select = select.where(UsageRecord.request_id == query.request_id)
    if since is not None:
        select = select.where(UsageRecord.started_at >= since)
    if before is not None:
        select = select.where(UsageRecord.started_at < before)
    rows = await select.limit(query.page_size).offset((query.page - 1) * query.page_size)
    return [_log(row) for row in rows]
