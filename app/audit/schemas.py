"""Shapes of `GET /audit/logs`: the filters, one event as the API shows it (never the shipping columns),
and a page of them with the cursor of the next."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AuditLogQuery(msgspec.Struct, frozen=True):
    actor: str | None = None  # actor_id: a user or key id (an email for failed logins)
    actor_type: str | None = None
    action: str | None = None  # exact, or a prefix ending in '*': "key.*"
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    start_time: str | None = None  # ISO 8601, inclusive
    end_time: str | None = None  # ISO 8601, inclusive (a bare date: that whole day)
    limit: int = 50
    cursor: str | None = None


class AuditLogEntry(msgspec.Struct):
    event_id: UUID
    account_id: UUID | None
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_role: str | None
    actor_ip: str | None
    action: str
    target_type: str
    target_id: str | None
    changes: dict[str, Any]
    detail: dict[str, Any]
    outcome: str
    request_id: str | None


class AuditLogPage(msgspec.Struct):
    data: list[AuditLogEntry]
    next_cursor: str | None  # pass as `cursor` for the next (older) page; null on the last page
