"""Numbers only the workers know (audit backlog, queue state, job timings), shown by every API process's
`/metrics`: a worker publishes gauges into one Redis hash per group, `/metrics` reads them all."""

from __future__ import annotations

from typing import Any

PREFIX = "alchemi:metrics:"


async def publish(redis: Any, group: str, values: dict[str, float]) -> None:
    """Replace the values of `group` (e.g. "audit" → alchemi_audit_backlog_events ...)."""
    if values:
        await redis.hset(PREFIX + group, mapping={name: repr(float(value)) for name, value in values.items()})


async def read_all(redis: Any) -> dict[str, dict[str, float]]:
    """group → {name: value} for every published group."""
    groups: dict[str, dict[str, float]] = {}
    async for key in redis.scan_iter(match=PREFIX + "*", count=100):
        name = key.decode() if isinstance(key, bytes) else key
        raw = await redis.hgetall(name)
        groups[name[len(PREFIX):]] = {
            (field.decode() if isinstance(field, bytes) else field): float(value)
            for field, value in raw.items()
        }
    return groups
