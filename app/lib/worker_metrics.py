"""Numbers only the workers know (audit backlog, queue state, job timings), shown by every API process's
`/metrics`: a worker publishes gauges into one Redis hash per group and counts its jobs' durations and
outcomes into one hash per queue; `/metrics` reads them all (`fleet_lines`), bounded in time.

Redis layout
  alchemi:metrics:<group>     hash  name → value (gauges; names ending in `_total` are running totals)
  alchemi:metric-groups       set   the published group names (so reading never SCANs the keyspace)
  alchemi:queues              set   queue names that workers consume (each adds its own at startup)
  alchemi:jobs:<queue>        hash  `d|<function>|<le>` jobs per duration bucket, `s|<function>` seconds,
                                    `o|<function>|<outcome>` jobs per outcome — added with HINCRBY(FLOAT)
"""

from __future__ import annotations

import math
from typing import Any

from app.lib.metrics import metric_name, number, render_family, render_histogram

PREFIX = "alchemi:metrics:"
GROUPS_KEY = "alchemi:metric-groups"
QUEUES_KEY = "alchemi:queues"
JOBS_PREFIX = "alchemi:jobs:"
# Seconds: a usage batch takes milliseconds; health checks and audit shipping call out over the network.
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OUTCOMES = ("success", "retried", "failed", "cancelled")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def publish(redis: Any, group: str, values: dict[str, float]) -> None:
    """Replace the values of `group` (e.g. "audit" → alchemi_audit_backlog_events ...)."""
    if values:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(PREFIX + group, mapping={name: repr(float(value)) for name, value in values.items()})
            pipe.sadd(GROUPS_KEY, group)
            await pipe.execute()


async def read_all(redis: Any) -> dict[str, dict[str, float]]:
    """group → {name: value} for every published group."""
    groups = sorted(_text(name) for name in await redis.smembers(GROUPS_KEY))
    if not groups:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.hgetall(PREFIX + group)
        stored = await pipe.execute()
    return {group: {_text(field): float(value) for field, value in raw.items()}
            for group, raw in zip(groups, stored) if raw}


async def announce_queue(redis: Any, queue: str) -> None:
    """A worker names the queue it consumes, so `/metrics` reports that queue's depth."""
    await redis.sadd(QUEUES_KEY, queue)


def _bucket(seconds: float) -> str:
    for bound in JOB_BUCKETS:
        if seconds <= bound:
            return number(bound)
    return "+Inf"


async def record_job(redis: Any, queue: str, function: str, seconds: float, outcome: str) -> None:
    """Count one finished job (one round trip): its duration bucket, seconds and outcome."""
    key = JOBS_PREFIX + queue
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, f"d|{function}|{_bucket(seconds)}", 1)
        pipe.hincrbyfloat(key, f"s|{function}", seconds)
        pipe.hincrby(key, f"o|{function}|{outcome}", 1)
        await pipe.execute()


async def fleet_lines(redis: Any, queues: tuple[str, ...]) -> list[str]:
    """Prometheus lines for queue depths, job durations and outcomes, and every published gauge group."""
    announced = {_text(name) for name in await redis.smembers(QUEUES_KEY)}
    names = sorted(announced.union(queues))
    async with redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.zcard(queue)
            pipe.hgetall(JOBS_PREFIX + queue)
        answers = await pipe.execute()
    depths = [((queue,), float(answers[2 * i])) for i, queue in enumerate(names)]
    lines = render_family("alchemi_queue_depth", "gauge", "Jobs in each arq queue: due, deferred or running",
                          ("queue",), depths)
    lines += _job_lines({queue: answers[2 * i + 1] for i, queue in enumerate(names)})
    lines += _group_lines(await read_all(redis))
    return lines


def _job_lines(stats: dict[str, dict]) -> list[str]:
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    sums: dict[tuple[str, str], float] = {}
    outcomes: list[tuple[tuple[str, str, str], float]] = []
    for queue, raw in stats.items():
        for field, value in raw.items():
            kind, _, rest = _text(field).partition("|")
            if kind == "d":
                function, _, le = rest.rpartition("|")
                buckets.setdefault((queue, function), {})[float(le)] = float(value)
            elif kind == "s":
                sums[(queue, rest)] = float(value)
            elif kind == "o":
                function, _, outcome = rest.rpartition("|")
                outcomes.append(((queue, function, outcome), float(value)))
    stored = {le for counts in buckets.values() for le in counts if not math.isinf(le)}
    bounds = tuple(sorted(stored.union(JOB_BUCKETS)))  # every series shows every bucket
    series = {key: ([counts.get(bound, 0.0) for bound in bounds] + [counts.get(math.inf, 0.0)], sums.get(key, 0.0))
              for key, counts in sorted(buckets.items())}
    lines = render_histogram("alchemi_job_duration_seconds", "Duration of worker jobs by queue and function",
                             ("queue", "function"), bounds, series)
    lines += render_family("alchemi_jobs_total", "counter", "Finished worker jobs by queue, function and outcome",
                           ("queue", "function", "outcome"), sorted(outcomes))
    return lines


def _group_lines(groups: dict[str, dict[str, float]]) -> list[str]:
    lines: list[str] = []
    for group, values in sorted(groups.items()):
        for name, value in sorted(values.items()):
            full = metric_name(f"alchemi_{group}_{name}")
            kind = "counter" if full.endswith("_total") else "gauge"
            lines += render_family(full, kind, f"Published by the workers (group {group})", (), [((), value)])
    return lines
