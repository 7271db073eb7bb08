"""Request and response shapes of /copilot/guardrails (config, toggles, custom patterns, the hit log)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class GuardConfig(msgspec.Struct):
    """One guard type of the account: whether it runs, what a hit does, per-detector overrides."""

    guard_type: str
    enabled: bool
    action: str
    detectors: dict[str, str]  # detector name → mask | block | log | off (overrides `action`)
    available_detectors: list[str]  # what `detectors` may name (custom_patterns: the account's pattern names)
    updated_at: datetime | None = None


class GuardrailsConfig(msgspec.Struct):
    scan_responses: bool
    guards: list[GuardConfig]


class GuardToggle(msgspec.Struct):
    enabled: bool


class GuardUpdate(msgspec.Struct):
    """PUT /config/{guard_type}: the fields sent are replaced (`detectors` as a whole), the rest kept."""

    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    action: str | msgspec.UnsetType = msgspec.UNSET
    detectors: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class SettingsUpdate(msgspec.Struct):
    """PUT /config: the account-wide switches."""

    scan_responses: bool


class PatternCreate(msgspec.Struct):
    name: str
    pattern: str
    action: str = "mask"
    enabled: bool = True


class PatternUpdate(msgspec.Struct):
    name: str | msgspec.UnsetType = msgspec.UNSET
    pattern: str | msgspec.UnsetType = msgspec.UNSET
    action: str | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class Pattern(msgspec.Struct):
    id: str
    name: str
    pattern: str
    action: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class Hit(msgspec.Struct):
    """One row of the hit log: what was found and done, never the text it matched."""

    id: str
    occurred_at: datetime
    request_id: str | None
    key_id: str | None
    user_id: str | None
    guard_type: str
    name: str
    action: str
    direction: str
    call_type: str
    model: str
    count: int


class HitQuery(msgspec.Struct):
    guard_type: str | None = None
    name: str | None = None
    action: str | None = None
    direction: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    page: int = 1
    page_size: int = 100


class HitPage(msgspec.Struct):
    hits: list[Hit]
    total: int
    page: int
    page_size: int
    total_pages: int
