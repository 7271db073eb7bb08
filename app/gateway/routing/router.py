"""Which deployment a request tries next: the group's strategy, retries with backoff, fallbacks
to other model groups, and cooled-down deployments skipped (one half-open probe at a time).

    attempts = Router(...).attempts(models, "gpt-4o", allowed)
    async for deployment in attempts:      # yields the next deployment to try
        try: ...call...
        except GatewayError as exc: attempts.failed(exc) — raises when nothing is left
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from app.gateway.routing import strategies
from app.gateway.routing.health import DeploymentHealth
from app.gateway.routing.settings import RouterSettings
from app.lib.errors import GatewayError, ModelNotFound, PermissionDenied
from app.providers.base import Deployment

RETRYABLE_CODES = frozenset({"upstream_error", "upstream_unreachable", "upstream_timeout", "upstream_rate_limited",
                             "upstream_auth_failed", "upstream_stream_error"})


def retryable(error: GatewayError) -> bool:
    """Upstream trouble another deployment (or a later try) may not have; never the caller's mistakes."""
    return error.code in RETRYABLE_CODES


def context_window_exceeded(error: GatewayError) -> bool:
    return error.code == "context_length_exceeded"


class Attempts:
    """The attempts of one request; iterate for deployments, report each failure with `failed`."""

    def __init__(self, router: "Router", groups: dict[str, list[Deployment]], settings: RouterSettings,
                 model: str, allowed: tuple[str, ...]) -> None:
        self._router = router
        self._groups = groups
        self._settings = settings
        self._allowed = allowed
        self.model_group = model
        self._pending_groups: list[str] = []
        self._context_fallback = False
        self._tried: set[str] = set()
        self._attempts_in_group = 0
        self._retries_left = settings.num_retries
        self._last_error: GatewayError | None = None

    def _group(self, name: str) -> list[Deployment]:
        deployments = self._groups.get(name)
        if not deployments:
            raise ModelNotFound(f"The model '{name}' does not exist or you do not have access to it.", param="model")
        if self._allowed and name not in self._allowed:
            raise PermissionDenied(f"This key is not allowed to use the model '{name}'.", param="model",
                                   code="model_not_allowed")
        return deployments

    async def __aiter__(self) -> AsyncIterator[Deployment]:
        group = self.model_group
        self._group(group)  # 404 / 403 before anything is tried
        while True:
            deployment = await self._next_in(group)
            if deployment is not None:
                yield deployment
                continue
            # This group is exhausted: move on to its fallbacks, if any are left and usable.
            group = self._next_group()
            if group is None:
                assert self._last_error is not None
                raise self._last_error
            self.model_group = group
            self._tried.clear()
            self._attempts_in_group = 0
            self._retries_left = self._settings.num_retries

    def _next_group(self) -> str | None:
        while self._pending_groups:
            name = self._pending_groups.pop(0)
            if name in self._groups and (not self._allowed or name in self._allowed):
                return name
        return None

    async def _next_in(self, group: str) -> Deployment | None:
        """Untried, healthy deployments first (in strategy order); then, within num_retries, another
        round after a doubling backoff; None when the group has nothing more to offer."""
        if self._attempts_in_group:
            if self._retries_left <= 0 or self._context_fallback:
                return None
            self._retries_left -= 1
        health = self._router.health
        ordered = await self._router.order(self._group(group), self._settings.strategy_for(group))
        for deployment in ordered:
            ident = str(deployment.id)
            if ident in self._tried or health.cooling(ident):
                continue
            if health.half_open(ident) and not await health.claim_probe(ident):
                continue  # another request is probing it
            return self._take(deployment)
        if not self._attempts_in_group:
            # Everything is cooling down: trying one beats failing without a try.
            return self._take(ordered[0])
        await asyncio.sleep(self._settings.retry_after * 2 ** (self._attempts_in_group - 1))
        available = [d for d in ordered if not health.cooling(str(d.id))]
        return self._take(available[0]) if available else None

    def _take(self, deployment: Deployment) -> Deployment:
        self._tried.add(str(deployment.id))
        self._attempts_in_group += 1
        return deployment

    async def failed(self, deployment: Deployment, error: GatewayError) -> None:
        """Record a failed attempt; raise `error` at once when another attempt cannot help."""
        if context_window_exceeded(error):
            # A longer prompt than this group takes: retrying it is pointless, a bigger model may work.
            self._last_error = error
            self._context_fallback = True
            self._pending_groups = self._settings.fallbacks_for(self.model_group, context_window=True)
            self._retries_left = 0
            if not self._pending_groups:
                raise error
            return
        if not retryable(error):
            raise error
        self._last_error = error
        if not self._pending_groups and not self._context_fallback:
            self._pending_groups = self._settings.fallbacks_for(self.model_group)
        await self._router.health.failed(str(deployment.id), deployment.model_name, error.code or "error",
                                         self._settings)


class Router:
    def __init__(self, redis: Redis, health: DeploymentHealth) -> None:
        self._redis = redis
        self.health = health

    def attempts(self, groups: dict[str, list[Deployment]], settings: RouterSettings, model: str,
                 allowed: tuple[str, ...]) -> Attempts:
        return Attempts(self, groups, settings, model, allowed)

    async def order(self, deployments: list[Deployment], strategy: str) -> list[Deployment]:
        if len(deployments) == 1:
            return deployments
        if strategy == "least-busy":
            return strategies.least_busy(deployments, self.health)
        if strategy == "latency-based-routing":
            return strategies.latency_based(deployments, self.health)
        if strategy == "usage-based-routing":
            return await strategies.usage_based(deployments, self._redis)
        return strategies.simple_shuffle(deployments, self.health)
