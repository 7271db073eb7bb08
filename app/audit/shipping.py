"""Shipping the audit outbox (`audit_events` rows with `shipped_at` NULL) to OpenObserve, oldest first.

The rules, per run of the `ship_audit_events` cron:
- One run at a time fleet-wide (a Redis lock), and none while the destination is paused after a failure.
- A batch is *claimed* in its own short transaction: `next_ship_at` = now + lease and `ship_attempts` + 1,
  committed before any HTTP call. No transaction stays open across a call, and a second worker never
  takes the same events until the lease runs out (a worker that died mid-batch leaves them to the next).
- Events sent before (attempts > 1) may have landed although we never heard so (a timeout, a crash):
  OpenObserve is asked (`_search` on their event ids) and those it holds are marked shipped, not resent.
- 200 with `failed` = 0: every event is marked shipped. 200 with `failed` > 0: the counts do not say which,
  so `_search` tells; those found are marked shipped, the others are resent later, alone, with the same
  event id. If that search fails too, they all stay pending (a duplicate keeps its event id).
- No verdict (5xx, 429, 401, a timeout, connection refused, an unreadable answer): the whole batch waits
  (exponential back-off per event, capped at ALCHEMI_AUDIT_SHIP_MAX_BACKOFF), and the destination is paused
  for a back-off that grows with the consecutive failed runs (same cap): an outage costs one request per
  back-off period, not one per tick, and shipping resumes within the cap once it ends. Nothing is dropped.
- After every run the backlog is published (app/lib/worker_metrics.py, group "audit").
Retention (app/audit/retention.py) wins over shipping: an unshipped event older than the retention is deleted.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from redis.exceptions import RedisError

from app.audit.openobserve import AuditRecord, OpenObserve, ShipFailed, micros
from app.audit.scope import enter_platform_scope
from app.lib import worker_metrics
from app.lib.logs import redact
from app.settings import Settings

log = logging.getLogger("alchemi.audit.shipping")

PAUSE_KEY = "alchemi:audit:ship:pause"
FAILURES_KEY = "alchemi:audit:ship:failures"  # consecutive runs the destination failed: the pause grows with it
LOCK_KEY = "alchemi:audit:ship:lock"
METRICS_GROUP = "audit"
_SEARCH_MARGIN_US = 300 * 1_000_000  # clocks of OpenObserve and of this worker may differ a little
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

_CLAIM = """
WITH due AS (
    SELECT id FROM audit_events
    WHERE shipped_at IS NULL AND (next_ship_at IS NULL OR next_ship_at <= now())
    ORDER BY occurred_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE audit_events AS e SET next_ship_at = now() + make_interval(secs => $2), ship_attempts = e.ship_attempts + 1
FROM due WHERE e.id = due.id
RETURNING e.id, e.account_id, e.occurred_at, e.actor_type, e.actor_id, e.actor_role, e.actor_ip, e.action,
    e.target_type, e.target_id, e.changes::text AS changes, e.detail::text AS detail, e.outcome, e.request_id,
    e.ship_attempts
"""
_MARK_SHIPPED = """
UPDATE audit_events SET shipped_at = now(), next_ship_at = NULL WHERE id = ANY($1::uuid[]) AND shipped_at IS NULL
"""
_BACK_OFF = """
UPDATE audit_events
SET next_ship_at = now() + make_interval(secs => LEAST($2::float8, $3::float8 * power(2, LEAST(ship_attempts - 1, 30))))
WHERE id = ANY($1::uuid[]) AND shipped_at IS NULL
"""
_BACKLOG = """
SELECT count(*) AS events, COALESCE(EXTRACT(EPOCH FROM now() - min(occurred_at)), 0)::float8 AS oldest_s
FROM audit_events WHERE shipped_at IS NULL
"""


@dataclass(frozen=True)
class ShipPolicy:
    batch_size: int = 500
    timeout: float = 10.0  # each HTTP call
    max_backoff: float = 300.0
    base_backoff: float = 1.0
    max_batches: int = 20  # per run; the next tick goes on
    run_budget: float = 20.0  # seconds: no new batch is claimed after this (arq's job timeout is 60 s)

    @property
    def lease(self) -> float:
        """How long a claimed batch is ours: a batch makes at most three calls (search, ingest, search)."""
        return 3 * self.timeout + 30

    def backoff(self, attempts: int) -> float:
        return min(self.max_backoff, self.base_backoff * 2 ** min(max(attempts - 1, 0), 30))

    @classmethod
    def from_settings(cls, settings: Settings) -> ShipPolicy:
        return cls(batch_size=settings.audit_ship_batch_size, timeout=settings.audit_ship_timeout,
                   max_backoff=settings.audit_ship_max_backoff)


class ShipReport(msgspec.Struct):
    shipped: int = 0  # marked shipped in this run (sent now, or found already held)
    resend: int = 0  # put back for a later run
    batches: int = 0
    skipped: str | None = None  # "paused" | "busy"
    backlog: int | None = None
    oldest_pending_s: float | None = None


class _Pending(msgspec.Struct, frozen=True):
    record: AuditRecord
    attempts: int  # including this one


async def ship_pending(pool: asyncpg.Pool, client: OpenObserve, redis: Any, policy: ShipPolicy) -> ShipReport:
    """One run: ship due events batch by batch until none is left, the budget is spent or the destination fails."""
    report = ShipReport()
    token = uuid.uuid4().hex
    if await redis.exists(PAUSE_KEY):
        report.skipped = "paused"
    elif not await redis.set(LOCK_KEY, token, nx=True, px=int((policy.run_budget + policy.lease) * 1000)):
        report.skipped = "busy"
    else:
        try:
            await _run(pool, client, redis, policy, report)
        finally:
            await redis.eval(_RELEASE, 1, LOCK_KEY, token)
    await publish_backlog(pool, redis, report)
    return report


async def _run(pool: asyncpg.Pool, client: OpenObserve, redis: Any, policy: ShipPolicy, report: ShipReport) -> None:
    deadline = time.monotonic() + policy.run_budget
    for _ in range(policy.max_batches):
        batch = await _claim(pool, policy)
        if not batch:
            return
        report.batches += 1
        failure = await _ship_batch(pool, client, batch, policy, report)
        if failure is not None:
            failures = await redis.incr(FAILURES_KEY)
            await redis.expire(FAILURES_KEY, 86400)
            await redis.set(PAUSE_KEY, failure, px=max(int(policy.backoff(failures) * 1000), 1))
            return
        await redis.delete(FAILURES_KEY)
        if len(batch) < policy.batch_size or time.monotonic() > deadline:
            return


async def _ship_batch(pool: asyncpg.Pool, client: OpenObserve, batch: list[_Pending], policy: ShipPolicy,
                      report: ShipReport) -> str | None:
    """Ships one claimed batch; returns why the destination failed, or None."""
    retried = [event.record.id for event in batch if event.attempts > 1]
    held = await _held(client, retried, batch) if retried else set()
    await _mark_shipped(pool, held, report)
    to_send = [event for event in batch if event.record.id not in held]
    if not to_send:
        return None
    ids = [event.record.id for event in to_send]
    now = datetime.now(timezone.utc)
    try:
        result = await client.ingest([event.record.wire(now) for event in to_send])
    except ShipFailed as failure:
        level = logging.ERROR if failure.status in (400, 401, 403, 404) else logging.WARNING
        log.log(level, "OpenObserve did not take the audit batch; backing off",
                extra={"reason": failure.reason, "events": len(ids)})
        await _back_off(pool, ids, policy, report)
        return failure.reason
    if result.failed == 0 and result.successful == len(to_send):
        await _mark_shipped(pool, set(ids), report)
        return None
    log.warning("OpenObserve refused part of the audit batch; resending only those",
                extra={"successful": result.successful, "failed": result.failed,
                       "error": redact(result.error or "")[:300]})
    landed = await _held(client, ids, to_send)
    await _mark_shipped(pool, landed, report)
    await _back_off(pool, [event_id for event_id in ids if event_id not in landed], policy, report)
    return None


async def _held(client: OpenObserve, ids: list[UUID], batch: list[_Pending]) -> set[UUID]:
    """The ids OpenObserve holds; none when it cannot tell (they are then resent: same event id)."""
    start = min(micros(event.record.occurred_at) for event in batch) - _SEARCH_MARGIN_US
    end = micros(datetime.now(timezone.utc)) + _SEARCH_MARGIN_US
    try:
        return await client.find_ids(ids, start, end)
    except ShipFailed as failure:
        log.info("could not ask OpenObserve which audit events it holds", extra={"reason": failure.reason})
        return set()


async def _claim(pool: asyncpg.Pool, policy: ShipPolicy) -> list[_Pending]:
    async with pool.acquire() as conn, conn.transaction():
        await enter_platform_scope(conn)
        rows = await conn.fetch(_CLAIM, policy.batch_size, float(policy.lease))
    batch = [_Pending(AuditRecord(
        id=row["id"], account_id=row["account_id"], occurred_at=row["occurred_at"], actor_type=row["actor_type"],
        actor_id=row["actor_id"], actor_role=row["actor_role"], actor_ip=row["actor_ip"], action=row["action"],
        target_type=row["target_type"], target_id=row["target_id"], changes=row["changes"],
        detail=row["detail"], outcome=row["outcome"], request_id=row["request_id"]), row["ship_attempts"])
        for row in rows]
    return sorted(batch, key=lambda event: (event.record.occurred_at, event.record.id))


async def _in_platform_scope(pool: asyncpg.Pool, sql: str, *args: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await enter_platform_scope(conn)
        await conn.execute(sql, *args)


async def _mark_shipped(pool: asyncpg.Pool, ids: set[UUID], report: ShipReport) -> None:
    if ids:
        await _in_platform_scope(pool, _MARK_SHIPPED, list(ids))
        report.shipped += len(ids)


async def _back_off(pool: asyncpg.Pool, ids: list[UUID], policy: ShipPolicy, report: ShipReport) -> None:
    if ids:
        await _in_platform_scope(pool, _BACK_OFF, ids, float(policy.max_backoff), float(policy.base_backoff))
        report.resend += len(ids)


async def publish_backlog(pool: asyncpg.Pool, redis: Any, report: ShipReport) -> None:
    """alchemi_audit_backlog_events, _oldest_pending_seconds, _shipping_paused (gauges) and the running totals
    _shipped_events_total, _resent_events_total; a failure here never fails the run."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await enter_platform_scope(conn)
            row = await conn.fetchrow(_BACKLOG)
        report.backlog, report.oldest_pending_s = int(row["events"]), float(row["oldest_s"])
        paused = 1.0 if await redis.exists(PAUSE_KEY) else 0.0
        await worker_metrics.publish(redis, METRICS_GROUP, {
            "backlog_events": report.backlog, "oldest_pending_seconds": report.oldest_pending_s,
            "shipping_paused": paused})
        key = worker_metrics.PREFIX + METRICS_GROUP
        if report.shipped:
            await redis.hincrbyfloat(key, "shipped_events_total", report.shipped)
        if report.resend:
            await redis.hincrbyfloat(key, "resent_events_total", report.resend)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, RedisError) as exc:
        log.warning("could not publish the audit backlog", extra={"error": type(exc).__name__})
