"""Field rules shared by the management domains: money, limits, emails, durations, ids, names, dates."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import msgspec

from app.admin.limits_schemas import LimitsCreate
from app.billing.periods import current_period
from app.lib.errors import InvalidRequest

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|mo)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
_LONGEST_DURATION_S = 100 * 365 * 86400  # beyond this, period arithmetic would leave datetime's range
_MONEY_CEILING = Decimal(10) ** 12  # numeric(24, 12) keeps 12 digits before the point
_INT_CEILING = 2**31 - 1  # integer columns
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LIMIT_FIELDS = LimitsCreate.__struct_fields__  # what a request may set: the budget and rate limits


def money(value: float | None, param: str = "max_budget") -> Decimal | None:
    """A budget as an exact Decimal (from its decimal text, so 0.1 stays 0.1); never negative."""
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"'{param}' must be a number", param=param) from None
    if not amount.is_finite() or amount < 0:  # NaN first: comparing it raises
        raise InvalidRequest(f"'{param}' must be a non-negative number", param=param)
    if amount >= _MONEY_CEILING:
        raise InvalidRequest(f"'{param}' must be below {_MONEY_CEILING:,}", param=param)
    return amount


def amount(value: Any) -> float | None:
    """A Decimal column as a JSON number (None stays None)."""
    return None if value is None else float(value)


_NOT_IN_ADDRESSES = frozenset(',;:<>()[]\\"')  # list separators, display names, quoting: one plain address only


def email(value: str, param: str = "user_email") -> str:
    """One plain address, lower-cased. Addresses end up in mail headers and SMTP envelopes: no control
    characters (CR/LF would inject headers), no second address, no display name."""
    address = value.strip().lower()
    local, at, domain = address.partition("@")
    if (not at or not local or "." not in domain or "@" in domain or len(address) > 320
            or any(not label for label in domain.split("."))
            or any(c.isspace() or not c.isprintable() or c in _NOT_IN_ADDRESSES for c in address)):
        raise InvalidRequest(f"'{param}' is not a valid email address", param=param)
    return address


def duration(value: str | None, param: str = "budget_duration") -> str | None:
    """Validates `30s`, `5m`, `1h`, `1d`, `1w`, `1mo` (more than zero, at most 100 years); returns it unchanged."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match or int(match.group(1)) == 0:
        raise InvalidRequest(f"'{param}' must look like 30s, 5m, 1h, 1d, 1w or 1mo", param=param)
    if int(match.group(1)) * _UNIT_SECONDS[match.group(2)] > _LONGEST_DURATION_S:
        raise InvalidRequest(f"'{param}' is longer than 100 years", param=param)
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
    if value is not None and value > _INT_CEILING:
        raise InvalidRequest(f"'{param}' cannot be above {_INT_CEILING}", param=param)
    return value


def limits(data: Any, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The budget and rate-limit fields a request sets, validated, by column name; unset ones are left out.

    On an update (`stored` is the level's row), a `budget_duration` that differs from the stored
    one also clears `budget_reset_at`. With no reset moment, periods are aligned to the Unix epoch
    (`1d` = UTC days, `1mo` = calendar months), so the new duration's periods start from that rule at
    once, instead of the old period running on to its end and the new length being counted from there.
    """
    values: dict[str, Any] = {}
    for name in LIMIT_FIELDS:
        value = getattr(data, name, msgspec.UNSET)
        if value is msgspec.UNSET:
            continue
        if name == "max_budget":
            values[name] = money(value, name)
        elif name == "budget_duration":
            values[name] = duration(value, name)
        else:
            values[name] = non_negative(value, name)
    if stored is not None and "budget_duration" in values and values["budget_duration"] != stored["budget_duration"]:
        values["budget_reset_at"] = None
    return values


def budget_reset_at(budget_duration: str | None, stored_reset_at: datetime | None) -> datetime | None:
    """When the current budget period ends: the period admission charges requests to right now,
    even before the cron job has moved the stored moment on."""
    if not budget_duration:
        return None
    try:
        return current_period(stored_reset_at or _EPOCH, budget_duration, datetime.now(timezone.utc))[1]
    except (ValueError, OverflowError):
        return stored_reset_at


def limits_of(row: dict[str, Any]) -> dict[str, Any]:
    """A level's limits as every management answer shows them (LiteLLM's names), plus `budget_reset_at`."""
    return {
        "max_budget": amount(row["max_budget"]), "budget_duration": row["budget_duration"],
        "budget_reset_at": budget_reset_at(row["budget_duration"], row["budget_reset_at"]),
        "rpm_limit": row["rpm_limit"], "tpm_limit": row["tpm_limit"],
        "max_parallel_requests": row["max_parallel_requests"],
    }


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
