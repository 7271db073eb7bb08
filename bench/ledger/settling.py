"""Watching usage settle: PostgreSQL's ledger rows of one account and the arq queue in Redis, until
every answered request has its row and the queue is empty; then the audit of the rows, id by id."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from redis.asyncio import Redis

USAGE_QUEUE = "alchemi:usage"  # app/lib/jobs.py USAGE_QUEUE: a sorted set of job ids, removed when done
_POLL_S = 0.02


@dataclass
class Settling:
    """Seconds from the end of the load (the last answer read) to each event; None if it never happened."""

    rows_complete_s: float | None = None  # the ledger first held as many rows as answers
    queue_empty_s: float | None = None  # ZCARD alchemi:usage first 0 with the rows complete
    rows: int = 0  # the ledger's rows of the account when the wait ended
    queue_length: int = 0
    # (seconds since the end of the load, ledger rows, queue length), every change, for the curious
    trace: list[tuple[float, int, int]] = field(default_factory=list)
    # ids of jobs still queued after the rows were complete (a cron job, an alert): what kept it waiting
    lingering_jobs: set[str] = field(default_factory=set)

    @property
    def settled_s(self) -> float | None:
        if self.rows_complete_s is None or self.queue_empty_s is None:
            return None
        return max(self.rows_complete_s, self.queue_empty_s)


@dataclass
class Audit:
    rows: int
    distinct_request_ids: int
    statuses: dict[str, int]
    missing: list[str]  # answered 2xx, no row
    unexpected: list[str]  # a row no 2xx answer named
    outbox_unprocessed: int | None  # usage_outbox batches without processed_at (None: no such table)
    # What the worker rolled up from these rows, each of which must count every row exactly once:
    # ledger cost sum, the key's and the account's spend, and spend_daily's request count.
    rollups: dict[str, object] = field(default_factory=dict)

    @property
    def rollup_mismatches(self) -> list[str]:
        r = self.rollups
        wrong = [f"{name} {r[name]} != ledger cost {r['ledger_cost']}" for name in ("key_spend", "account_spend")
                 if name in r and r[name] != r["ledger_cost"]]
        if "daily_requests" in r and r["daily_requests"] != self.rows:
            wrong.append(f"spend_daily requests {r['daily_requests']} != ledger rows {self.rows}")
        return wrong

    @property
    def duplicates(self) -> int:
        return self.rows - self.distinct_request_ids


_COUNT = "SELECT count(*) FROM usage_ledger WHERE account_id = $1"


async def wait_for_ledger(database_url: str, redis_url: str, account_id: str, expected: int, *, load_ended: float,
                          timeout_s: float) -> Settling:
    """Poll until the account's ledger rows reach `expected` and the usage queue is empty, or timeout_s."""
    settling = Settling()
    conn = await asyncpg.connect(database_url)
    redis = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await conn.fetchval(_COUNT, account_id)
            queued = await redis.zcard(USAGE_QUEUE)
            elapsed = time.monotonic() - load_ended
            if not settling.trace or settling.trace[-1][1:] != (rows, queued):
                settling.trace.append((round(elapsed, 3), rows, queued))
            settling.rows, settling.queue_length = rows, queued
            if rows >= expected and settling.rows_complete_s is None:
                settling.rows_complete_s = elapsed
            if settling.rows_complete_s is not None:
                if queued == 0:
                    settling.queue_empty_s = elapsed
                    return settling
                settling.lingering_jobs.update(job.decode() for job in await redis.zrange(USAGE_QUEUE, 0, 9))
            if time.monotonic() >= deadline:
                return settling
            await asyncio.sleep(_POLL_S)
    finally:
        await conn.close()
        await redis.aclose()


_ROLLUPS = """
SELECT (SELECT coalesce(sum(cost), 0) FROM usage_ledger WHERE account_id = $1) AS ledger_cost,
       (SELECT spend FROM virtual_keys WHERE id = $2 AND account_id = $1) AS key_spend,
       (SELECT spend FROM accounts WHERE id = $1) AS account_spend,
       (SELECT coalesce(sum(requests), 0) FROM spend_daily WHERE account_id = $1) AS daily_requests
"""


async def audit(database_url: str, account_id: str, key_id: str, answered_ids: list[str]) -> Audit:
    """The account's ledger against the request ids of the 2xx answers, and the roll-ups against the ledger."""
    conn = await asyncpg.connect(database_url)
    try:
        records = await conn.fetch("SELECT request_id, status FROM usage_ledger WHERE account_id = $1", account_id)
        rollups = dict(await conn.fetchrow(_ROLLUPS, account_id, key_id))
        try:
            outbox = await conn.fetchval("SELECT count(*) FROM usage_outbox WHERE processed_at IS NULL")
        except asyncpg.UndefinedTableError:
            outbox = None
    finally:
        await conn.close()
    ids = [r["request_id"] for r in records]
    in_ledger, answered = set(ids), set(answered_ids)
    return Audit(
        rows=len(ids), distinct_request_ids=len(in_ledger), statuses=dict(Counter(r["status"] for r in records)),
        missing=sorted(answered - in_ledger), unexpected=sorted(in_ledger - answered),
        outbox_unprocessed=outbox, rollups=rollups,
    )
