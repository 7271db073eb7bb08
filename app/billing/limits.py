"""Admission and settlement of budgets and rate limits, fleet-wide, atomic in Redis.

Admission checks every level of the request (key → user → team → organization → account, and
the deployment): requests/minute, tokens/minute, parallel requests and budgets, and only if
every level has room does it count the request and reserve its worst-case cost everywhere at
once. Settlement replaces the reservation with the actual cost, adds the actual tokens and
frees the parallel slot. Both run in one Lua script (app/billing/limits_lua.py), sent in
batches: one round trip per batch, however many requests it carries.

Redis layout (one primary; no cluster): per level and entity
  al:{level}:{id}:b:{period}   hash  spend, res (reserved), seeded — money in 1e-10 USD units
  al:{level}:{id}:m:{minute}   int   requests this minute
  al:{level}:{id}:t:{minute}   int   tokens this minute
  al:{level}:{id}:n            int   requests in flight
per request in flight: `al:if` (zset of request ids by deadline) and `al:if:{request id}`
("<level set id>|<reserved units>"); per distinct set of levels: `al:lv:{id}` (JSON);
and `al:alive`, set once every budget counter has been restored after Redis lost its data.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import time
from functools import lru_cache
from decimal import ROUND_CEILING, Decimal

import msgspec
from redis.exceptions import RedisError

from app.billing.limits_lua import BATCH as _BATCH_SOURCE
from app.lib.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from app.lib.lua import Script
from app.lib.metrics import Counter, REGISTRY

log = logging.getLogger("alchemi.limits")

UNITS_PER_USD = 10**10
ALIVE_KEY = "al:alive"
LIFETIME = 0  # the period id of a budget without a duration
LEVEL_NAMES = {"key": "key", "user": "user", "team": "team", "organization": "organization",
               "account": "account", "deployment": "model deployment"}

REFUSALS = REGISTRY.register(Counter("alchemi_limit_refusals_total", "Requests refused by a limit", ("level", "limit")))
REDIS_FAILURES = REGISTRY.register(Counter(
    "alchemi_limits_redis_failures_total", "Admissions/settlements that could not reach Redis", ("operation", "outcome")))


def to_units(amount: Decimal) -> int:
    return int((amount * UNITS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def from_units(units: int) -> Decimal:
    return Decimal(units) / UNITS_PER_USD


class LevelLimits(msgspec.Struct, frozen=True):
    """The limits of one level; `period` is the budget period's identity (its end, epoch seconds)."""

    level: str
    entity_id: str
    budget_units: int | None = None
    period: int = LIFETIME
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None

    @property
    def prefix(self) -> str:
        return f"al:{self.level}:{self.entity_id}"


class Admission(msgspec.Struct):
    """What admission counted and reserved: settlement undoes or confirms exactly this."""

    request_id: str
    levels: tuple[LevelLimits, ...]
    reserved_units: int
    minute: int
    deadline_ms: int
    headers: dict[str, str]
    settled: bool = False

    @property
    def budget_periods(self) -> dict[str, int]:
        """level → the period this request is charged to (for the ledger)."""
        return _budget_periods(self.levels)

    @property
    def budget_limits(self) -> dict[str, str]:
        """level → its max_budget at admission (for soft-budget alerts)."""
        return _budget_limits(self.levels)


_SEED = """
if not redis.call('HGET', KEYS[1], 'seeded') then
  redis.call('HINCRBY', KEYS[1], 'spend', tonumber(ARGV[1]))
  redis.call('HSET', KEYS[1], 'seeded', 1)
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2])) end
end
return 1
"""

BUDGET_KEY_TTL = 7 * 86400  # a period's counter outlives the period by a week (late settlements)


SEED, BATCH = Script(_SEED), Script(_BATCH_SOURCE)


@lru_cache(maxsize=8192)
def _budget_periods(levels: tuple[LevelLimits, ...]) -> dict[str, int]:
    return {level.level: level.period for level in levels if level.budget_units is not None}


@lru_cache(maxsize=8192)
def _budget_limits(levels: tuple[LevelLimits, ...]) -> dict[str, str]:
    return {level.level: str(from_units(level.budget_units)) for level in levels if level.budget_units is not None}


def _flag(value: int | None) -> int:
    return -1 if value is None else value


class LevelSet(msgspec.Struct, frozen=True):
    """A request's levels as Redis keeps them (`al:lv:<id>`, JSON): sent once, then named by id."""

    id: str
    payload: str


@lru_cache(maxsize=8192)
def level_set(levels: tuple[LevelLimits, ...]) -> LevelSet:
    rows = []
    for level in levels:
        expire = level.period + BUDGET_KEY_TTL if level.period != LIFETIME else 0
        rows.append([level.prefix, str(level.period), _flag(level.budget_units), _flag(level.rpm), _flag(level.tpm),
                     _flag(level.parallel), expire])
    payload = msgspec.json.encode(rows).decode()
    return LevelSet(hashlib.sha1(payload.encode()).hexdigest()[:20], payload)


class _Waiting(msgspec.Struct):
    args: tuple
    future: asyncio.Future
    levels: LevelSet


class Limiter:
    """Admissions and settlements of this process go to Redis in batches: while one batch is on its
    way, the next one gathers, so under load many requests share a round trip. Within a batch the
    settlements are applied before the admissions: a client that sends its next request as soon as
    the previous answer arrived always finds that answer's slot and reservation released."""

    def __init__(self, redis, *, fail_open: bool, seed, on_budget_full=None) -> None:
        """`seed(level) -> Decimal` reads a budget period's recorded spend from PostgreSQL;
        `on_budget_full(level, used_units)` hears of each refusal by a full budget (the 100 % alert)."""
        self._redis = redis
        self._fail_open = fail_open
        self._seed = seed
        self._on_budget_full = on_budget_full
        self._admissions: list[_Waiting] = []
        self._settlements: list[tuple] = []
        self._registered: set[str] = set()  # level sets this process knows Redis holds
        self._sender: asyncio.Task | None = None

    async def admit(self, request_id: str, levels: tuple[LevelLimits, ...], reserve: Decimal,
                    timeout_s: float) -> Admission | None:
        """Count the request on every level or refuse it; None when no level has a limit."""
        if not levels:
            return None
        now = time.time()
        minute = int(now // 60)
        deadline_ms = int(now * 1000) + int((timeout_s + 60) * 1000)
        amount = to_units(reserve) if any(level.budget_units is not None for level in levels) else 0
        levelset = level_set(levels)
        args = (request_id, amount, deadline_ms, minute, levelset.id)
        for _ in range(len(levels) + 2):
            future = asyncio.get_running_loop().create_future()
            self._admissions.append(_Waiting(args, future, levelset))
            self._send_soon()
            try:
                outcome, index, used, *report = await future
            except (RedisError, OSError) as exc:
                return self._unreachable("admit", exc)
            outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
            if outcome == "levels":  # Redis lost the level set (flushed, or expired): send it again
                self._registered.discard(levelset.id)
                continue
            if outcome == "seed":
                await self._seed_level(levels[index])
                continue
            if outcome != "ok":
                if outcome == "budget" and self._on_budget_full is not None:
                    await self._on_budget_full(levels[index], used)
                self._refuse(outcome, levels[index], used, now, amount)
            return Admission(request_id, levels, amount, minute, deadline_ms, _headers(levels, report, now))
        raise ServiceUnavailable("Budget counters are being restored; retry shortly", code="limits_restoring",
                                 headers={"Retry-After": "1"})

    async def settle(self, admission: Admission, actual_cost: Decimal, tokens: int, *, refund: bool = False) -> None:
        """Replace the reservation with the actual cost, add the tokens, free the slot (with the next
        batch). Safe to call twice. `refund`: the attempt failed and the request goes on elsewhere,
        so it does not count toward rpm."""
        if admission.settled:
            return
        admission.settled = True
        self._settlements.append((admission.request_id, admission.reserved_units,
                                  to_units(actual_cost) if actual_cost else 0, tokens, int(refund), admission.minute,
                                  level_set(admission.levels).id))
        self._send_soon()

    def _send_soon(self) -> None:
        if self._sender is None or self._sender.done():
            # A fresh context: the sender outlives the request that started it, and must not log as that request.
            self._sender = asyncio.get_running_loop().create_task(self._send(), context=contextvars.Context())

    async def _send(self) -> None:
        while self._admissions or self._settlements:
            admissions, self._admissions = self._admissions, []
            settlements, self._settlements = self._settlements, []
            registering = {w.levels.id: w.levels.payload for w in admissions if w.levels.id not in self._registered}
            args: list = [int(time.time() * 1000), ALIVE_KEY, len(registering)]
            for pair in registering.items():
                args += pair
            args.append(len(settlements))
            for settlement in settlements:
                args += settlement
            args.append(len(admissions))
            for waiting in admissions:
                args += waiting.args
            try:
                results = await BATCH(self._redis, [], args)
            except (RedisError, OSError) as exc:
                if settlements:
                    # Their reservations and slots expire at their deadlines; the ledger still records the cost.
                    REDIS_FAILURES.inc("settle", "deferred_to_expiry", amount=len(settlements))
                    log.warning("settlement could not reach Redis", extra={"error": type(exc).__name__})
                for waiting in admissions:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            self._registered.update(registering)
            for waiting, result in zip(admissions, results):
                if not waiting.future.done():
                    waiting.future.set_result(result)

    async def aclose(self) -> None:
        if self._sender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._sender), timeout=5)
            except (asyncio.TimeoutError, RedisError, OSError):
                pass
        await self._redis.aclose()

    async def _seed_level(self, level: LevelLimits) -> None:
        spend = await self._seed(level)
        expire = level.period + BUDGET_KEY_TTL if level.period != LIFETIME else 0
        try:
            await SEED(self._redis, [f"{level.prefix}:b:{level.period}"], [to_units(spend), expire])
        except (RedisError, OSError) as exc:
            self._unreachable("admit", exc)

    def _unreachable(self, operation: str, exc: Exception) -> None:
        if self._fail_open:
            REDIS_FAILURES.inc(operation, "allowed")
            log.error("limits not enforced: Redis unreachable", extra={"error": type(exc).__name__})
            return None
        REDIS_FAILURES.inc(operation, "refused")
        raise ServiceUnavailable("Limits cannot be checked right now; retry shortly", code="limits_unavailable",
                                 headers={"Retry-After": "1"})

    def _refuse(self, outcome: str, level: LevelLimits, used: int, now: float, amount: int = 0) -> None:
        REFUSALS.inc(level.level, outcome)
        name = f"{LEVEL_NAMES.get(level.level, level.level)} {level.entity_id}"
        if outcome == "budget":
            limit = from_units(level.budget_units or 0)
            raise BudgetExceeded(
                f"Budget exceeded for {name}: ${from_units(used):.6f} of ${limit:.6f} is used or reserved in this "
                f"period, and this request may cost up to ${from_units(amount):.6f} (a lower max_tokens reserves less)",
                param=level.level, code=f"{level.level}_budget_exceeded",
            )
        reset = 60 - int(now % 60) if outcome in ("rpm", "tpm") else 1
        kind = {"rpm": "requests per minute", "tpm": "tokens per minute", "parallel": "parallel requests"}[outcome]
        limit = {"rpm": level.rpm, "tpm": level.tpm, "parallel": level.parallel}[outcome]
        headers = {"Retry-After": str(reset)}
        if outcome in ("rpm", "tpm"):
            unit = "requests" if outcome == "rpm" else "tokens"
            headers.update({f"x-ratelimit-limit-{unit}": str(limit), f"x-ratelimit-remaining-{unit}": "0",
                            f"x-ratelimit-reset-{unit}": f"{reset}s"})
        raise RateLimited(f"Rate limit reached for {name}: {limit} {kind}", param=level.level,
                          code=f"{level.level}_{outcome}_limit", headers=headers)

def _headers(levels: tuple[LevelLimits, ...], report: list, now: float) -> dict[str, str]:
    """OpenAI-style x-ratelimit-* headers from the tightest requests and tokens limits."""
    headers: dict[str, str] = {}
    reset = f"{60 - int(now % 60)}s"
    best_r: tuple[int, int] | None = None
    best_t: tuple[int, int] | None = None
    for index, level in enumerate(levels):
        used_r, used_t = int(report[index * 2]), int(report[index * 2 + 1])
        if level.rpm is not None and (best_r is None or level.rpm - used_r - 1 < best_r[1]):
            best_r = (level.rpm, level.rpm - used_r - 1)
        if level.tpm is not None and (best_t is None or level.tpm - used_t < best_t[1]):
            best_t = (level.tpm, level.tpm - used_t)
    if best_r is not None:
        headers.update({"x-ratelimit-limit-requests": str(best_r[0]),
                        "x-ratelimit-remaining-requests": str(max(best_r[1], 0)), "x-ratelimit-reset-requests": reset})
    if best_t is not None:
        headers.update({"x-ratelimit-limit-tokens": str(best_t[0]),
                        "x-ratelimit-remaining-tokens": str(max(best_t[1], 0)), "x-ratelimit-reset-tokens": reset})
    return headers


def budget_units(max_budget: Decimal | None) -> int | None:
    return None if max_budget is None else int((max_budget * UNITS_PER_USD).to_integral_value())
