"""The rules of an account's guardrails: reading and changing its guards and custom patterns (each change
audited, and once committed dropped from every API process's scanner cache), and listing its hits."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import asyncpg
import msgspec

from app.admin import fields
from app.audit.record import audited_change
from app.db.tables import GuardrailConfig, GuardrailHit, GuardrailPattern, GuardrailSettings
from app.guardrails.cache import TOPIC, settings_of
from app.guardrails.custom import MAX_PATTERNS, PatternRejected, compile_pattern
from app.guardrails.detectors import detector_names
from app.guardrails.policy import ACTIONS, DETECTOR_OVERRIDES, GUARD_TYPES
from app.guardrails.schemas import (GuardConfig, GuardrailsConfig, GuardToggle, GuardUpdate, Hit, HitPage, HitQuery,
                                    Pattern, PatternCreate, PatternUpdate, SettingsUpdate)
from app.lib.errors import Conflict, InvalidRequest, NotFound
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import scoped

DIRECTIONS = ("input", "output")
_PATTERN_NAME_LENGTH = 100


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _guard_type(value: str) -> str:
    if value not in GUARD_TYPES:
        raise NotFound(f"Unknown guard type '{value}': use one of {', '.join(GUARD_TYPES)}", param="guard_type",
                       code="guard_type_not_found")
    return value


def _action(value: str, param: str = "action") -> str:
    if value not in ACTIONS:
        raise InvalidRequest(f"'{param}' must be one of: {', '.join(ACTIONS)}", param=param)
    return value


async def _names(guard_type: str) -> list[str]:
    """What `detectors` may name: the built-in detectors, or for custom_patterns the account's patterns."""
    if guard_type != "custom_patterns":
        return detector_names(guard_type)
    rows = await scoped(GuardrailPattern).select(GuardrailPattern.name).order_by(GuardrailPattern.created_at)
    return [row["name"] for row in rows]


async def _detectors(guard_type: str, overrides: dict[str, str]) -> dict[str, str]:
    known = set(await _names(guard_type))
    for name, value in overrides.items():
        if name not in known:
            raise InvalidRequest(f"'{name}' is not a detector of {guard_type}; it has: "
                                 f"{', '.join(sorted(known)) or 'none'}", param="detectors")
        if value not in DETECTOR_OVERRIDES:
            raise InvalidRequest(f"'detectors.{name}' must be one of: {', '.join(DETECTOR_OVERRIDES)}",
                                 param="detectors")
    return dict(overrides)


async def _view(guard_type: str, row: dict[str, Any] | None) -> GuardConfig:
    settings = settings_of(row)
    return GuardConfig(guard_type=guard_type, enabled=settings.enabled, action=settings.action,
                       detectors=dict(settings.detectors), available_detectors=await _names(guard_type),
                       updated_at=row["updated_at"] if row else None)


def _audited(row: dict[str, Any] | None) -> dict[str, Any]:
    settings = settings_of(row)
    return {"enabled": settings.enabled, "action": settings.action, "detectors": dict(settings.detectors)}


async def _changed() -> None:
    """After the commit: every API process drops the account's compiled scanner."""
    await runtime().bus.publish(TOPIC, str(require_account()))


# --- guards ---------------------------------------------------------------------------------------------

async def _guard_row(guard_type: str) -> dict[str, Any] | None:
    return await scoped(GuardrailConfig).get(GuardrailConfig.guard_type == guard_type)


async def _scan_responses() -> bool:
    row = await scoped(GuardrailSettings).select(GuardrailSettings.scan_responses).first()
    return bool(row and row["scan_responses"])


async def show_config() -> GuardrailsConfig:
    rows = {row["guard_type"]: row for row in await scoped(GuardrailConfig).select()}
    return GuardrailsConfig(scan_responses=await _scan_responses(),
                            guards=[await _view(guard_type, rows.get(guard_type)) for guard_type in GUARD_TYPES])


async def toggle(guard_type: str, data: GuardToggle) -> GuardConfig:
    return await _write_guard(_guard_type(guard_type), {"enabled": data.enabled})


async def update_guard(guard_type: str, data: GuardUpdate) -> GuardConfig:
    guard_type = _guard_type(guard_type)
    values: dict[str, Any] = {}
    if data.enabled is not msgspec.UNSET:
        values["enabled"] = data.enabled
    if data.action is not msgspec.UNSET:
        values["action"] = _action(data.action)
    if data.detectors is not msgspec.UNSET:
        values["detectors"] = await _detectors(guard_type, data.detectors)
    return await _write_guard(guard_type, values)


async def _write_guard(guard_type: str, values: dict[str, Any]) -> GuardConfig:
    table = scoped(GuardrailConfig)
    before = await _guard_row(guard_type)
    try:
        async with audited_change("guardrail.updated", "guardrail", guard_type, before=_audited(before)) as change:
            if before is None:
                after = await table.insert(guard_type=guard_type, **values, updated_at=_now())
            else:
                await table.update({**values, "updated_at": _now()}).where(GuardrailConfig.id == before["id"])
                after = await _guard_row(guard_type)
            change.after = _audited(after)
    except asyncpg.UniqueViolationError:  # another admin created the row at the same moment
        raise Conflict(f"The {guard_type} guard was changed at the same time; send the change again") from None
    await _changed()
    return await _view(guard_type, after)


async def update_settings(data: SettingsUpdate) -> GuardrailsConfig:
    table = scoped(GuardrailSettings)
    before = await table.select().first()
    try:
        async with audited_change("guardrail_settings.updated", "guardrail_settings", require_account(),
                                  before={"scan_responses": bool(before and before["scan_responses"])}) as change:
            if before is None:
                await table.insert(scan_responses=data.scan_responses, updated_at=_now())
            else:
                await table.update({GuardrailSettings.scan_responses: data.scan_responses,
                                    GuardrailSettings.updated_at: _now()})
            change.after = {"scan_responses": data.scan_responses}
    except asyncpg.UniqueViolationError:
        raise Conflict("The guardrail settings were changed at the same time; send the change again") from None
    await _changed()
    return await show_config()


# --- custom patterns ------------------------------------------------------------------------------------

def _pattern_view(row: dict[str, Any]) -> Pattern:
    return Pattern(id=str(row["id"]), name=row["name"], pattern=row["pattern"], action=row["action"],
                   enabled=row["enabled"], created_at=row["created_at"], updated_at=row["updated_at"])


def _pattern_audited(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"name": row["name"], "pattern": row["pattern"], "action": row["action"], "enabled": row["enabled"]}


def _pattern_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidRequest("'name' is required", param="name")
    if len(name) > _PATTERN_NAME_LENGTH or any(not c.isprintable() for c in name):
        raise InvalidRequest(f"'name' must be printable and at most {_PATTERN_NAME_LENGTH} characters", param="name")
    return name


def _checked_pattern(value: str) -> str:
    try:
        compile_pattern(value)
    except PatternRejected as exc:
        raise InvalidRequest(f"The pattern was refused: {exc.message}", param="pattern") from None
    return value


async def _pattern_row(pattern_id: str) -> dict[str, Any]:
    row = await scoped(GuardrailPattern).get(GuardrailPattern.id == fields.identifier(pattern_id, "pattern_id"))
    if row is None:
        raise NotFound("No such pattern in this account", param="pattern_id", code="pattern_not_found")
    return row


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A pattern named '{name}' already exists in this account", code="pattern_name_taken")


async def list_patterns() -> list[Pattern]:
    rows = await scoped(GuardrailPattern).select().order_by(GuardrailPattern.created_at)
    return [_pattern_view(row) for row in rows]


async def create_pattern(data: PatternCreate) -> Pattern:
    values = {"name": _pattern_name(data.name), "pattern": _checked_pattern(data.pattern),
              "action": _action(data.action), "enabled": data.enabled}
    if await scoped(GuardrailPattern).count() >= MAX_PATTERNS:  # the scanner would ignore the ones past it
        raise InvalidRequest(f"An account has at most {MAX_PATTERNS} custom patterns; delete one first",
                             param="pattern", code="too_many_patterns")
    try:
        async with audited_change("guardrail_pattern.created", "guardrail_pattern") as change:
            row = await scoped(GuardrailPattern).insert(**values, created_at=_now(), updated_at=_now())
            change.target_id, change.after = row["id"], _pattern_audited(row)
    except asyncpg.UniqueViolationError:
        raise _name_taken(values["name"]) from None
    await _changed()
    return _pattern_view(row)


async def update_pattern(pattern_id: str, data: PatternUpdate) -> Pattern:
    before = await _pattern_row(pattern_id)
    values: dict[str, Any] = {}
    if data.name is not msgspec.UNSET:
        values["name"] = _pattern_name(data.name)
    if data.pattern is not msgspec.UNSET:
        values["pattern"] = _checked_pattern(data.pattern)
    if data.action is not msgspec.UNSET:
        values["action"] = _action(data.action)
    if data.enabled is not msgspec.UNSET:
        values["enabled"] = data.enabled
    table = scoped(GuardrailPattern)
    try:
        async with audited_change("guardrail_pattern.updated", "guardrail_pattern", before["id"],
                                  before=_pattern_audited(before)) as change:
            await table.update({**values, "updated_at": _now()}).where(GuardrailPattern.id == before["id"])
            after = await table.get(GuardrailPattern.id == before["id"])
            change.after = _pattern_audited(after)
    except asyncpg.UniqueViolationError:
        raise _name_taken(values.get("name", before["name"])) from None
    if after is None:  # deleted by someone else meanwhile
        raise NotFound("No such pattern in this account", param="pattern_id", code="pattern_not_found")
    await _changed()
    return _pattern_view(after)


async def delete_pattern(pattern_id: str) -> Pattern:
    before = await _pattern_row(pattern_id)
    async with audited_change("guardrail_pattern.deleted", "guardrail_pattern", before["id"],
                              before=_pattern_audited(before)):
        await scoped(GuardrailPattern).delete().where(GuardrailPattern.id == before["id"])
    await _changed()
    return _pattern_view(before)


# --- the hit log ----------------------------------------------------------------------------------------

def _hit_view(row: dict[str, Any]) -> Hit:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return Hit(id=str(row["id"]), occurred_at=row["occurred_at"], request_id=row["request_id"],
               key_id=text(row["key_id"]), user_id=text(row["user_id"]), guard_type=row["guard_type"],
               name=row["name"], action=row["action"], direction=row["direction"], call_type=row["call_type"],
               model=row["model"], count=row["count"])


def _choice(value: str | None, allowed: tuple[str, ...], param: str) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidRequest(f"'{param}' must be one of: {', '.join(allowed)}", param=param)
    return value


async def list_hits(query: HitQuery) -> HitPage:
    since, before = fields.period(query.start_date, query.end_date)
    filters = []
    for column, value in ((GuardrailHit.guard_type, _choice(query.guard_type, GUARD_TYPES, "guard_type")),
                          (GuardrailHit.action, _choice(query.action, ACTIONS, "action")),
                          (GuardrailHit.direction, _choice(query.direction, DIRECTIONS, "direction")),
                          (GuardrailHit.name, query.name)):
        if value is not None:
            filters.append(column == value)
    if since is not None:
        filters.append(GuardrailHit.occurred_at >= since)
    if before is not None:
        filters.append(GuardrailHit.occurred_at < before)
    select, count = scoped(GuardrailHit).select(), scoped(GuardrailHit).count()
    for condition in filters:
        select, count = select.where(condition), count.where(condition)
    rows = await select.order_by(GuardrailHit.occurred_at, GuardrailHit.id, ascending=False).limit(
        query.page_size).offset((query.page - 1) * query.page_size)
    total = await count
    return HitPage(hits=[_hit_view(row) for row in rows], total=total, page=query.page, page_size=query.page_size,
                   total_pages=fields.total_pages(total, query.page_size))
