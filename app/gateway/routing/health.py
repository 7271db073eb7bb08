"""What this process knows about each deployment: calls in flight, latency, and cooldowns.

Cooldowns are fleet-wide: failures are counted in Redis; when a deployment reaches
`allowed_fails` within the window it is cooled down for `cooldown_time` and every API process
hears it over the invalidation bus. When the cooldown ends the deployment is half-open: one
process at a time wins the probe (SET NX in Redis); a success clears it everywhere, a failure
cools it down again.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.lib.lua import Script
from app.gateway.routing.settings import RouterSettings
from app.lib.invalidation import InvalidationBus
from app.lib.metrics import REGISTRY, Counter

log = logging.getLogger("alchemi.routing")

COOLDOWNS = REGISTRY.register(Counter("alchemi_deployment_cooldowns_total", "Deployments put in cooldown",
                                      ("model_group",)))
UPSTREAM_FAILURES = REGISTRY.register(Counter("alchemi_upstream_failures_total", "Failed upstream attempts",
                                              ("model_group", "code")))
_LATENCY_WEIGHT = 0.2  # exponential moving average of seconds per call
# The window starts at the first failure (EXPIRE NX needs Redis 7; this works on 6.2 too).
_COUNT_FAILURE = Script("""
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
""")


class DeploymentHealth:
    def __init__(self, redis: Redis, bus: InvalidationBus) -> None:
        self._redis = redis
        self._bus = bus
        self.in_flight: dict[str, int] = {}
        self.latency: dict[str, float] = {}
        self._cooling_until: dict[str, float] = {}
        self._half_open: set[str] = set()
        bus.subscribe(self._on_message)

    def _on_message(self, topic: str, ident: str) -> None:
        if topic == "cooldown":
            deployment_id, _, until = ident.partition("@")
            self._cooling_until[deployment_id] = float(until)
            self._half_open.add(deployment_id)
        elif topic == "recovered":
            self._cooling_until.pop(ident, None)
            self._half_open.discard(ident)

    def cooling(self, deployment_id: str) -> bool:
        return self._cooling_until.get(deployment_id, 0.0) > time.time()

    def half_open(self, deployment_id: str) -> bool:
        return deployment_id in self._half_open and not self.cooling(deployment_id)

    async def claim_probe(self, deployment_id: str) -> bool:
        """After a cooldown only one request (fleet-wide) tries the deployment until it answers."""
        try:
            return bool(await self._redis.set(f"rt:probe:{deployment_id}", "1", nx=True, px=10_000))
        except (RedisError, OSError):
            return False

    def started(self, deployment_id: str) -> float:
        self.in_flight[deployment_id] = self.in_flight.get(deployment_id, 0) + 1
        return time.monotonic()

    def ended(self, deployment_id: str) -> None:
        self.in_flight[deployment_id] = max(self.in_flight.get(deployment_id, 1) - 1, 0)

    async def succeeded(self, deployment_id: str, started: float) -> None:
        elapsed = time.monotonic() - started
        previous = self.latency.get(deployment_id)
        self.latency[deployment_id] = elapsed if previous is None else previous + _LATENCY_WEIGHT * (elapsed - previous)
        if deployment_id in self._half_open:
            self._half_open.discard(deployment_id)
            try:
                await self._redis.delete(f"rt:probe:{deployment_id}", f"rt:fails:{deployment_id}")
                await self._bus.publish("recovered", deployment_id)
            except (RedisError, OSError):
                pass

    async def failed(self, deployment_id: str, model_group: str, code: str, settings: RouterSettings) -> None:
        UPSTREAM_FAILURES.inc(model_group, code)
        probing = deployment_id in self._half_open
        if probing:
            # A failed probe: straight back into cooldown, here first so no request of this process
            # slips through while Redis is told.
            self._cooling_until[deployment_id] = time.time() + settings.cooldown_time
        try:
            fails = settings.allowed_fails if probing else await _COUNT_FAILURE(
                self._redis, [f"rt:fails:{deployment_id}"], [int(settings.failure_window)])
            if fails >= settings.allowed_fails:
                until = time.time() + settings.cooldown_time
                self._cooling_until[deployment_id] = until
                self._half_open.add(deployment_id)
                if await self._redis.set(f"rt:cooldown:{deployment_id}", "1", nx=True,
                                         px=int(settings.cooldown_time * 1000)):
                    COOLDOWNS.inc(model_group)
                    log.warning("deployment cooling down", extra={"deployment_id": deployment_id,
                                                                  "model_group": model_group, "failures": fails})
                    await self._bus.publish("cooldown", f"{deployment_id}@{until}")
                    await self._redis.delete(f"rt:fails:{deployment_id}", f"rt:probe:{deployment_id}")
        except (RedisError, OSError) as exc:
            log.warning("cooldown bookkeeping failed", extra={"error": type(exc).__name__})
