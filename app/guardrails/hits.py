"""Guardrail hits leave the hot path through an in-process buffer: every `interval` (250 ms) or
`max_records` hits, one arq job `record_guardrail_hits(batch_id, hits)` carries the batch to the workers,
which write guardrails_audit_log rows (tasks/guardrails.py). A request never waits on PostgreSQL or Redis.

Each hit has an id made when it happened, so a batch written twice writes nothing twice. When Redis
cannot take a batch, the hits stay in the buffer and the next flush tries again (up to `max_pending`,
then the oldest are dropped, and counted in the log); a process that dies loses at most its last
interval's hits. A hit names the guard, the detector or pattern, the action and the direction: never
the text that matched.
"""

from __future__ import annotations

import logging
import uuid

import msgspec
from arq import ArqRedis

from app.lib.flusher import PeriodicFlusher
from app.lib.jobs import enqueue

log = logging.getLogger("alchemi.guardrails")


class HitRecord(msgspec.Struct, frozen=True, array_like=True):
    """One row of guardrails_audit_log; its fields in the order tasks/guardrails.py inserts them (a batch
    travels as arrays: smaller, and the worker transposes it into columns as it is)."""

    id: str
    account_id: str
    occurred_at: float  # epoch seconds
    guard_type: str
    name: str
    action: str
    direction: str  # input | output
    call_type: str
    model: str
    count: int = 1
    request_id: str | None = None
    key_id: str | None = None
    user_id: str | None = None


class HitBuffer(PeriodicFlusher[HitRecord]):
    name = "guardrail-hits-flusher"

    def __init__(self, pool: ArqRedis, *, interval: float = 0.25, max_records: int = 1000,
                 max_pending: int = 100_000) -> None:
        super().__init__(interval=interval, max_records=max_records)
        self._pool = pool
        self._max_pending = max_pending

    def add(self, hits: list[HitRecord]) -> None:
        """Synchronous: safe from a stream's `finally`, costs a list append."""
        self._pending.extend(hits)
        if len(self._pending) > self._max_pending:
            dropped = len(self._pending) - self._max_pending
            del self._pending[:dropped]
            log.error("guardrail hits dropped: the job queue has been unreachable too long", extra={"dropped": dropped})
        self._added()

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_records], self._pending[self._max_records:]
            batch_id = uuid.uuid4().hex
            try:
                await enqueue(self._pool, "record_guardrail_hits", batch_id, batch,
                              job_id=f"guardrail-hits-{batch_id}")
            except BaseException:  # Redis away (or shutting down): the batch waits for the next flush
                self._pending[:0] = batch
                raise
