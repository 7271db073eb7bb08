"""Response shape of /spend/logs (LiteLLM's field names, including its camelCase times)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class SpendLogQuery(msgspec.Struct, frozen=True):
    api_key: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    request_id: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    page: int = 1
    page_size: int = 100


class SpendLog(msgspec.Struct):
    request_id: str
    call_type: str
    model: str
    model_group: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    spend: float
    api_key: UUID | None
    user: UUID | None
    team_id: UUID | None
    account_id: UUID
    start_time: datetime = msgspec.field(name="startTime")
    end_time: datetime = msgspec.field(name="endTime")
    status: str
    deployment_id: UUID | None
    provider: str
    latency_ms: int
