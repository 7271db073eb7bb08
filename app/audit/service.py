"""Reading the audit trail (`GET /audit/logs`): filters, newest first, pages joined by an opaque cursor.

An account's admins read their account's events. The super admin reads the account named by
x-alchemi-account-id, or without it every account's events and those no account owns (the platform
scope, app/audit/scope.py). The cursor is the (occurred_at, id) of a page's last event, so the next page
starts right after it: no gaps or repeats, whatever is recorded meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import msgspec
from piccolo.columns.combination import Combinable

from app.audit.openobserve import micros
from app.audit.schemas import AuditLogEntry, AuditLogPage, AuditLogQuery
from app.audit.scope import platform_scope
from app.auth.principal import Principal
from app.db.tables import AuditEvent
from app.lib.errors import InvalidRequest
from app.tenancy.context import current_account
from app.tenancy.scoped import scoped

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
ACTOR_TYPES = ("user", "key", "master_key", "system", "anonymous")
OUTCOMES = ("success", "failure", "denied")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# What a reader sees: never the outbox's own columns (shipped_at, ship_attempts, next_ship_at).
_COLUMNS = (AuditEvent.id, AuditEvent.account_id, AuditEvent.occurred_at, AuditEvent.actor_type, AuditEvent.actor_id,
            AuditEvent.actor_role, AuditEvent.actor_ip, AuditEvent.action, AuditEvent.target_type,
            AuditEvent.target_id, AuditEvent.changes, AuditEvent.detail, AuditEvent.outcome, AuditEvent.request_id)


async def audit_logs(query: AuditLogQuery, principal: Principal) -> AuditLogPage:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIMIT}", param="limit")
    filters = _filters(query)
    if principal.is_super_admin and current_account() is None:
        async with platform_scope():
            rows = await _page(AuditEvent.select(*_COLUMNS).output(load_json=True), filters, query.limit)
    else:
        rows = await _page(scoped(AuditEvent).select(*_COLUMNS), filters, query.limit)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return AuditLogPage(data=[_entry(row) for row in rows],
                        next_cursor=_cursor(rows[-1]) if more and rows else None)


async def _page(select: Any, filters: list[Combinable], limit: int) -> list[dict[str, Any]]:
    for condition in filters:
        select = select.where(condition)
    # One more than asked: whether a next page exists, without counting.
    return await select.order_by(AuditEvent.occurred_at, AuditEvent.id, ascending=False).limit(limit + 1)


def _entry(row: dict[str, Any]) -> AuditLogEntry:
    return AuditLogEntry(
        event_id=row["id"], account_id=row["account_id"], occurred_at=row["occurred_at"],
        actor_type=row["actor_type"], actor_id=row["actor_id"], actor_role=row["actor_role"],
        actor_ip=row["actor_ip"], action=row["action"], target_type=row["target_type"], target_id=row["target_id"],
        changes=row["changes"] or {}, detail=row["detail"] or {}, outcome=row["outcome"],
        request_id=row["request_id"])


def _filters(query: AuditLogQuery) -> list[Combinable]:
    filters: list[Combinable] = []
    if query.actor is not None:
        filters.append(AuditEvent.actor_id == _text(query.actor, "actor", 320))
    if query.actor_type is not None:
        filters.append(AuditEvent.actor_type == _choice(query.actor_type, "actor_type", ACTOR_TYPES))
    if query.action is not None:
        action = _action(query.action)
        if action is not None:
            filters.append(action)
    if query.target_type is not None:
        filters.append(AuditEvent.target_type == _text(query.target_type, "target_type", 32))
    if query.target_id is not None:
        filters.append(AuditEvent.target_id == _text(query.target_id, "target_id", 320))
    if query.outcome is not None:
        filters.append(AuditEvent.outcome == _choice(query.outcome, "outcome", OUTCOMES))
    since = _moment(query.start_time, "start_time", end=False)
    before = _moment(query.end_time, "end_time", end=True)
    if since is not None and before is not None and since >= before:
        raise InvalidRequest("'start_time' must not be after 'end_time'", param="start_time")
    if since is not None:
        filters.append(AuditEvent.occurred_at >= since)
    if before is not None:
        filters.append(AuditEvent.occurred_at < before)
    if query.cursor is not None:
        at, event_id = _read_cursor(query.cursor)
        filters.append((AuditEvent.occurred_at < at) | ((AuditEvent.occurred_at == at) & (AuditEvent.id < event_id)))
    return filters


def _text(value: str, param: str, longest: int) -> str:
    if not value or len(value) > longest or "\x00" in value:
        raise InvalidRequest(f"'{param}' must be 1 to {longest} characters", param=param)
    return value


def _choice(value: str, param: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequest(f"'{param}' must be one of {', '.join(allowed)}", param=param)
    return value


def _action(value: str) -> Combinable | None:
    """`key.created` exactly, or every action starting with `key.` for `key.*`; `*` alone: any."""
    prefix, star, rest = value.partition("*")
    if rest or (not star and not value):
        raise InvalidRequest("'action' must be an action name, or a prefix ending in '*' (e.g. key.*)",
                             param="action")
    prefix = _text(prefix, "action", 64) if prefix else ""
    if not star:
        return AuditEvent.action == prefix
    if not prefix:
        return None
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return AuditEvent.action.like(escaped + "%")


def _moment(value: str | None, param: str, *, end: bool) -> datetime | None:
    """An ISO 8601 date or datetime (naive: UTC). As the end of a range it is inclusive: a date covers
    that whole day, a datetime that microsecond; the result is then the exclusive bound."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"'{param}' must be an ISO 8601 date or datetime", param=param) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment + timedelta(microseconds=1) if end else moment


def _cursor(row: dict[str, Any]) -> str:
    raw = msgspec.json.encode([micros(row["occurred_at"]), str(row["id"])])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _read_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_us, event_id = msgspec.json.decode(raw, type=tuple[int, UUID])
        return _EPOCH + timedelta(microseconds=at_us), event_id
    except (binascii.Error, ValueError, msgspec.MsgspecError, OverflowError):
        raise InvalidRequest("'cursor' is not one this API returned", param="cursor") from None
