"""Budget periods: `30s`, `5m`, `1h`, `1d`, `1w` are fixed lengths; `1mo` is calendar months.

A period is fixed by the level's current `budget_reset_at` (its end). When that moment has
passed and the cron job has not yet moved it, the period a request falls in is computed the
same way the cron job will compute it, so every request is charged to exactly one period.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w|mo)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str) -> tuple[int, str]:
    match = _DURATION.match(value)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a budget duration: {value!r}")
    return int(match.group(1)), match.group(2)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def advance(moment: datetime, duration: str, steps: int = 1) -> datetime:
    count, unit = parse_duration(duration)
    if unit == "mo":
        return _add_months(moment, count * steps)
    return moment + timedelta(seconds=count * _SECONDS[unit] * steps)


def first_reset(duration: str, now: datetime | None = None) -> datetime:
    """The end of the first period of a budget set now."""
    return advance(now or datetime.now(timezone.utc), duration)


def current_period(reset_at: datetime, duration: str, now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the period containing `now`, given a period that ends at `reset_at`."""
    end = reset_at
    if now >= end:
        count, unit = parse_duration(duration)
        if unit == "mo":
            if end.day <= 28:
                # No month-end clamping can happen, so one jump equals that many steps; it stops short
                # of `now` (stepping from 1970 month by month cost ~2 ms per request).
                months = (now.year - end.year) * 12 + now.month - end.month
                end = advance(end, duration, max(months // count - 1, 0))
            while now >= end:
                end = advance(end, duration)
        else:
            length = count * _SECONDS[unit]
            steps = int((now - end).total_seconds() // length) + 1
            end = end + timedelta(seconds=length * steps)
    return advance(end, duration, -1), end
