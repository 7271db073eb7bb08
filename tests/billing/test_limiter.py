"""The limiter on a real Redis: what a request whose API died held is released after its deadline."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from app.billing.limits import ALIVE_KEY, LevelLimits, Limiter, budget_units
from app.lib.errors import BudgetExceeded, RateLimited
from app.lib.redis_wire import WireRedis


@pytest.fixture
async def limiter(services):
    plain = aioredis.from_url(services.redis_url)
    await plain.set(ALIVE_KEY, "test")
    await plain.aclose()

    async def no_seed(level):
        return Decimal(0)

    limiter = Limiter(WireRedis(services.redis_url, timeout=2), fail_open=False, seed=no_seed)
    yield limiter
    await limiter.aclose()


async def test_a_dead_requests_slot_and_reservation_are_released_after_its_deadline(limiter):
    level = LevelLimits("key", str(uuid.uuid4()), budget_units=budget_units(Decimal("1")), parallel=1)
    # timeout −61 s: the deadline (timeout + 60 s) is already past, as for a request whose API died.
    dead = await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.9"), timeout_s=-61)
    assert dead is not None  # never settled

    alive = await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.9"), timeout_s=30)
    assert alive is not None, "the dead request's slot and reservation were released"

    with pytest.raises(RateLimited):  # the live one holds the only slot
        await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.01"), timeout_s=30)
    await limiter.settle(alive, Decimal("0.5"), 10)
    with pytest.raises(BudgetExceeded):  # 0.5 spent: a 0.9 reservation no longer fits in 1.0
        await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.9"), timeout_s=30)
    assert await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.4"), timeout_s=30) is not None


async def test_settling_twice_or_after_a_purge_changes_nothing(limiter):
    level = LevelLimits("key", str(uuid.uuid4()), budget_units=budget_units(Decimal("1")), parallel=5)
    admission = await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.6"), timeout_s=30)
    await limiter.settle(admission, Decimal("0.1"), 1)
    await limiter.settle(admission, Decimal("0.1"), 1)  # ignored: already settled
    # 0.1 spent, nothing reserved: 0.9 fits exactly, 0.91 does not.
    assert await limiter.admit(uuid.uuid4().hex, (level,), Decimal("0.9"), timeout_s=30) is not None
