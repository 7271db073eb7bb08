"""Field rules shared by the management domains: money, emails, durations, ids."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from app.lib.errors import InvalidRequest

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|mo)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}


def money(value: float | None, param: str = "max_budget") -> Decimal | None:
    """A budget as an exact Decimal (from its decimal text, so 0.1 stays 0.1); never negative."""
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"'{param}' must be a number", param=param) from None
    if amount < 0 or not amount.is_finite():
        raise InvalidRequest(f"'{param}' must be a non-negative number", param=param)
    return amount


def amount(value: Any) -> float | None:
    """A Decimal column as a JSON number (None stays None)."""
    return None if value is None else float(value)


def email(value: str, param: str = "user_email") -> str:
    address = value.strip().lower()
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or ord(c) < 32 for c in address):
        raise InvalidRequest(f"'{param}' is not a valid email address", param=param)
    return address


def duration(value: str | None, param: str = "budget_duration") -> str | None:
    """Validates `30s`, `5m`, `1h`, `1d`, `1w`, `1mo`; returns it unchanged."""
    if value is None:
        return None
    if not _DURATION.match(value):
        raise InvalidRequest(f"'{param}' must look like 30s, 5m, 1h, 1d, 1w or 1mo", param=param)
    return value


def expiry(value: str | None, param: str = "duration") -> datetime | None:
    """When a key made now with this lifetime expires (None: never)."""
    if value is None:
        return None
    match = _DURATION.match(duration(value, param) or "")
    assert match is not None
    return datetime.now(timezone.utc) + timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def non_negative(value: int | None, param: str) -> int | None:
    if value is not None and value < 0:
        raise InvalidRequest(f"'{param}' cannot be negative", param=param)
    return value


def identifier(value: str | UUID | None, param: str) -> UUID | None:
    """An object id from a request; an id that is not a UUID cannot exist, so it is a 404 later, not a 500."""
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        raise InvalidRequest(f"'{param}' is not a valid id", param=param) from None
