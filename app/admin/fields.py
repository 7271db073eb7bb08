"""Field rules shared by the management domains: money, emails, durations, ids, names, dates."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from app.lib.errors import InvalidRequest

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|mo)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
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


def display_name(value: str, param: str) -> str:
    """A required display name (an alias): trimmed, never empty."""
    text = value.strip()
    if not text:
        raise InvalidRequest(f"'{param}' is required", param=param)
    if len(text) > 200:
        raise InvalidRequest(f"'{param}' is longer than 200 characters", param=param)
    return text


def _moment(value: str, param: str) -> tuple[datetime, bool]:
    """An aware datetime (naive ones are UTC) and whether the text was a bare date."""
    text = value.strip()
    try:
        if _DATE.match(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc), True
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"'{param}' must be a date (YYYY-MM-DD) or an ISO 8601 datetime",
                             param=param) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), False


def period(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """`start_date` / `end_date` as a half-open range [start, before).

    An end given as a date covers that whole day; an end given as a datetime is inclusive, and
    timestamps are stored to the microsecond, so one microsecond later is the exclusive bound.
    """
    since = _moment(start, "start_date")[0] if start else None
    before = None
    if end:
        moment, is_date = _moment(end, "end_date")
        before = moment + (timedelta(days=1) if is_date else timedelta(microseconds=1))
    if since is not None and before is not None and since >= before:
        raise InvalidRequest("'start_date' must not be after 'end_date'", param="start_date")
    return since, before


def total_pages(total: int, size: int) -> int:
    """How many pages of `size` hold `total` rows (an empty list is still one page)."""
    return max(-(-total // size), 1)
