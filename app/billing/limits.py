"""Admission and settlement of budgets and rate limits, fleet-wide, in one Redis round trip each.

Admission runs one Lua script over every level of the request (key → user → team →
organization → account, and the deployment): it checks requests/minute, tokens/minute,
parallel requests and budgets, and only if every level has room does it count the request
and reserve its worst-case cost everywhere at once. Settlement (another script) replaces the
reservation with the actual cost, adds the actual tokens and frees the parallel slot.

Redis layout (one primary; no cluster): per level and entity
  al:{level}:{id}:b:{period}   hash  spend, res (reserved), seeded — money in 1e-10 USD units
  al:{level}:{id}:r:{period}   zset  "request:units" reservations, scored by their deadline
  al:{level}:{id}:m:{minute}   int   requests this minute
  al:{level}:{id}:t:{minute}   int   tokens this minute
  al:{level}:{id}:p            zset  request ids in flight, scored by their deadline
and `al:alive`, set once every budget counter has been restored after Redis lost its data.
"""

from __future__ import annotations

import logging
import time
from decimal import ROUND_CEILING, Decimal

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

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
        return {level.level: level.period for level in self.levels if level.budget_units is not None}


_ADMIT = """
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local amount = tonumber(ARGV[3])
local deadline = tonumber(ARGV[4])
local alive = redis.call('EXISTS', ARGV[5]) == 1
local n = #KEYS / 5
local function arg(i, k) return tonumber(ARGV[6 + i * 5 + k]) end
local report = {}
for i = 0, n - 1 do
  local b, r, m, t, p = KEYS[i*5+1], KEYS[i*5+2], KEYS[i*5+3], KEYS[i*5+4], KEYS[i*5+5]
  local budget, rpm, tpm, par = arg(i, 0), arg(i, 1), arg(i, 2), arg(i, 3)
  if par >= 0 then
    redis.call('ZREMRANGEBYSCORE', p, '-inf', now)
    local busy = redis.call('ZCARD', p)
    if busy >= par then return {'parallel', i, busy} end
  end
  local used_r, used_t = 0, 0
  if rpm >= 0 then
    used_r = tonumber(redis.call('GET', m) or '0')
    if used_r >= rpm then return {'rpm', i, used_r} end
  end
  if tpm >= 0 then
    used_t = tonumber(redis.call('GET', t) or '0')
    if used_t >= tpm then return {'tpm', i, used_t} end
  end
  if budget >= 0 then
    local stale = redis.call('ZRANGEBYSCORE', r, '-inf', now)
    for _, member in ipairs(stale) do
      redis.call('HINCRBY', b, 'res', -tonumber(string.match(member, ':(%d+)$')))
    end
    if #stale > 0 then redis.call('ZREMRANGEBYSCORE', r, '-inf', now) end
    if not redis.call('HGET', b, 'seeded') then
      if not alive then return {'seed', i, 0} end
      redis.call('HSET', b, 'seeded', 1)
    end
    local held = tonumber(redis.call('HGET', b, 'spend') or '0') + tonumber(redis.call('HGET', b, 'res') or '0')
    if held + amount > budget then return {'budget', i, held} end
  end
  report[#report + 1] = used_r
  report[#report + 1] = used_t
end
for i = 0, n - 1 do
  local b, r, m, t, p = KEYS[i*5+1], KEYS[i*5+2], KEYS[i*5+3], KEYS[i*5+4], KEYS[i*5+5]
  local budget, rpm, par, expire = arg(i, 0), arg(i, 1), arg(i, 3), arg(i, 4)
  if par >= 0 then
    redis.call('ZADD', p, deadline, rid)
    redis.call('PEXPIRE', p, deadline - now + 60000)
  end
  if rpm >= 0 then
    redis.call('INCR', m)
    redis.call('EXPIRE', m, 120)
  end
  if budget >= 0 then
    if amount > 0 then
      redis.call('HINCRBY', b, 'res', amount)
      redis.call('ZADD', r, deadline, rid .. ':' .. amount)
      redis.call('PEXPIRE', r, deadline - now + 60000)
    end
    if expire > 0 then redis.call('EXPIREAT', b, expire) end
  end
end
return {'ok', 0, 0, unpack(report)}
"""

_SETTLE = """
local rid = ARGV[1]
local reserved = tonumber(ARGV[2])
local actual = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local refund = ARGV[5] == '1'
local n = #KEYS / 5
for i = 0, n - 1 do
  local b, r, m, t, p = KEYS[i*5+1], KEYS[i*5+2], KEYS[i*5+3], KEYS[i*5+4], KEYS[i*5+5]
  local budget, rpm, tpm, par = tonumber(ARGV[6 + i*4]), tonumber(ARGV[7 + i*4]), tonumber(ARGV[8 + i*4]),
    tonumber(ARGV[9 + i*4])
  if refund and rpm >= 0 and tonumber(redis.call('GET', m) or '0') > 0 then redis.call('DECR', m) end
  if budget >= 0 then
    if reserved > 0 and redis.call('ZREM', r, rid .. ':' .. reserved) == 1 then
      redis.call('HINCRBY', b, 'res', -reserved)
    end
    if actual > 0 then redis.call('HINCRBY', b, 'spend', actual) end
  end
  if tpm >= 0 and tokens > 0 then
    redis.call('INCRBY', t, tokens)
    redis.call('EXPIRE', t, 120)
  end
  if par >= 0 then redis.call('ZREM', p, rid) end
end
return 1
"""

_SEED = """
if not redis.call('HGET', KEYS[1], 'seeded') then
  redis.call('HINCRBY', KEYS[1], 'spend', tonumber(ARGV[1]))
  redis.call('HSET', KEYS[1], 'seeded', 1)
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2])) end
end
return 1
"""

BUDGET_KEY_TTL = 7 * 86400  # a period's counter outlives the period by a week (late settlements)


ADMIT, SETTLE, SEED = Script(_ADMIT), Script(_SETTLE), Script(_SEED)


def _keys(level: LevelLimits, minute: int) -> list[str]:
    prefix = level.prefix
    return [f"{prefix}:b:{level.period}", f"{prefix}:r:{level.period}", f"{prefix}:m:{minute}",
            f"{prefix}:t:{minute}", f"{prefix}:p"]


def _flag(value: int | None) -> int:
    return -1 if value is None else value


class Limiter:
    def __init__(self, redis: Redis, *, fail_open: bool, seed, on_budget_full=None) -> None:
        """`seed(level) -> Decimal` reads a budget period's recorded spend from PostgreSQL;
        `on_budget_full(level, used_units)` hears of each refusal by a full budget (the 100 % alert)."""
        self._redis = redis
        self._fail_open = fail_open
        self._seed = seed
        self._on_budget_full = on_budget_full

    async def admit(self, request_id: str, levels: tuple[LevelLimits, ...], reserve: Decimal,
                    timeout_s: float) -> Admission | None:
        """Count the request on every level or refuse it; None when no level has a limit."""
        if not levels:
            return None
        now = time.time()
        now_ms = int(now * 1000)
        minute = int(now // 60)
        deadline_ms = now_ms + int((timeout_s + 60) * 1000)
        amount = to_units(reserve) if any(level.budget_units is not None for level in levels) else 0
        keys: list[str] = []
        args: list = [now_ms, request_id, amount, deadline_ms, ALIVE_KEY]
        for level in levels:
            keys += _keys(level, minute)
            expire = level.period + BUDGET_KEY_TTL if level.period != LIFETIME else 0
            args += [_flag(level.budget_units), _flag(level.rpm), _flag(level.tpm), _flag(level.parallel), expire]
        for _ in range(len(levels) + 1):
            try:
                outcome, index, used, *report = await ADMIT(self._redis, keys, args)
            except (RedisError, OSError) as exc:
                return self._unreachable("admit", exc)
            outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
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
        """Replace the reservation with the actual cost, add the tokens, free the slot. Safe to call twice.

        `refund`: the attempt failed and the request goes on elsewhere, so it does not count toward rpm.
        """
        if admission.settled:
            return
        admission.settled = True
        keys: list[str] = []
        args: list = [admission.request_id, admission.reserved_units, to_units(actual_cost) if actual_cost else 0,
                      tokens, "1" if refund else "0"]
        for level in admission.levels:
            keys += _keys(level, admission.minute)
            args += [_flag(level.budget_units), _flag(level.rpm), _flag(level.tpm), _flag(level.parallel)]
        try:
            await SETTLE(self._redis, keys, args)
        except (RedisError, OSError) as exc:
            # The reservation and slot expire at their deadline; the ledger still records the cost.
            REDIS_FAILURES.inc("settle", "deferred_to_expiry")
            log.warning("settlement could not reach Redis", extra={"error": type(exc).__name__})

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _seed_level(self, level: LevelLimits) -> None:
        spend = await self._seed(level)
        expire = level.period + BUDGET_KEY_TTL if level.period != LIFETIME else 0
        await SEED(self._redis, [f"{level.prefix}:b:{level.period}"], [to_units(spend), expire])

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
