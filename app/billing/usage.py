"""Usage events: made on the hot path, buffered in-process, handed to the workers in batches.

One arq job per request would cost several times what the relay itself costs, so events
are collected for `usage_flush_interval` seconds (or `usage_flush_max_records`) and queued as
one `record_usage` job. Before it is queued, each batch is written to PostgreSQL's
`usage_outbox`, so a Redis that loses its queue loses no usage: the workers' sweeper queues
unprocessed batches again. The ledger row's identity is the request id, so a batch that is
processed twice writes nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from collections.abc import Awaitable, Callable

import msgspec
from arq import ArqRedis

from app.billing import pricing

from app.lib.flusher import PeriodicFlusher
from app.lib.jobs import enqueue

log = logging.getLogger("alchemi.usage")
_encode = msgspec.msgpack.Encoder().encode


class UsageEvent(msgspec.Struct, frozen=True):
    request_id: str
    account_id: str
    call_type: str
    model: str
    model_group: str
    provider: str
    upstream_model: str
    status: str
    started_at: float
    ended_at: float
    stream: bool = False
    organization_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    deployment_id: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_estimated: bool = False
    error_type: str | None = None
    input_cost_per_token: str | None = None
    output_cost_per_token: str | None = None
    markup_percent: str = "0"
    budget_periods: dict[str, int] = {}  # level → period id (its end, epoch s) the request was charged to
    budget_limits: dict[str, str] = {}  # level → max_budget at admission (for soft-budget alerts)


Outbox = Callable[[uuid.UUID, bytes, list[str]], Awaitable[None]]


# Which event field names the entity of each budget level.
LEVEL_OWNER = {"key": "key_id", "user": "user_id", "team": "team_id", "organization": "organization_id",
               "account": "account_id"}


class PricedEvent(msgspec.Struct, frozen=True):
    event: UsageEvent
    provider_cost: Decimal  # what the upstream bills
    cost: Decimal  # what the tenant is charged (the account's price book applied)


LEDGER_PRECISION = Decimal("1e-12")  # numeric(24,12): every sum derived from the ledger adds up exactly


def price_event(event: UsageEvent) -> PricedEvent:
    """The one cost calculation, used by the workers for the ledger (and when budgets are restored)."""
    sheet = pricing.sheet_for(event.provider, event.upstream_model, event.input_cost_per_token,
                              event.output_cost_per_token)
    tokens = pricing.TokenCounts(prompt=event.prompt_tokens, completion=event.completion_tokens,
                                 cached=event.cached_tokens, cache_write=event.cache_write_tokens)
    provider_cost = pricing.cost(sheet, tokens)
    charged = pricing.charged(provider_cost, Decimal(event.markup_percent))
    return PricedEvent(event, provider_cost.quantize(LEDGER_PRECISION), charged.quantize(LEDGER_PRECISION))


class UsageBuffer(PeriodicFlusher[UsageEvent]):
    name = "usage-flusher"

    def __init__(self, pool: ArqRedis, *, interval: float, max_records: int, outbox: Outbox) -> None:
        super().__init__(interval=interval, max_records=max_records)
        self._pool = pool
        self._outbox = outbox

    def add(self, event: UsageEvent) -> None:
        """Synchronous on purpose: it must work from a cancelled stream's `finally`."""
        self._pending.append(event)
        self._added()

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_records]
            batch_id = uuid.uuid4()
            durable = False
            try:
                await self._outbox(batch_id, _encode(batch), sorted({event.account_id for event in batch}))
                durable = True
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the queue alone carries the batch
                log.warning("usage outbox write failed", extra={"error": type(exc).__name__})
            try:
                await enqueue(self._pool, "record_usage", str(batch_id), batch, job_id=f"usage-{batch_id}")
            except Exception as exc:  # noqa: BLE001
                if not durable:  # nowhere safe yet: keep the events, the next flush retries
                    log.warning("usage enqueue failed; will retry",
                                extra={"error": type(exc).__name__, "pending": len(self._pending)})
                    raise
                log.warning("usage enqueue failed; the outbox sweeper will queue the batch",
                            extra={"error": type(exc).__name__})
            del self._pending[: len(batch)]
