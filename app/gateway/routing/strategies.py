"""Ordering a model group's deployments for one request, by the group's routing strategy.

Each strategy returns every candidate, best first; the router tries them in that order.
"""

from __future__ import annotations

import random
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.gateway.routing.health import DeploymentHealth
from app.providers.base import Deployment


def simple_shuffle(deployments: list[Deployment], health: DeploymentHealth) -> list[Deployment]:
    """Weighted random order (litellm_params.weight, default 1)."""
    pool = list(deployments)
    ordered: list[Deployment] = []
    while pool:
        pick = random.choices(pool, weights=[max(d.weight, 0) or 1e-9 for d in pool])[0]
        ordered.append(pick)
        pool.remove(pick)
    return ordered


def least_busy(deployments: list[Deployment], health: DeploymentHealth) -> list[Deployment]:
    shuffled = random.sample(deployments, len(deployments))  # ties go to a random one
    return sorted(shuffled, key=lambda d: health.in_flight.get(str(d.id), 0))


def latency_based(deployments: list[Deployment], health: DeploymentHealth) -> list[Deployment]:
    """Fastest first; a deployment never measured is tried first so it gets measured."""
    shuffled = random.sample(deployments, len(deployments))
    return sorted(shuffled, key=lambda d: health.latency.get(str(d.id), 0.0))


async def usage_based(deployments: list[Deployment], redis: Redis) -> list[Deployment]:
    """Most rpm/tpm headroom this minute first (from the same Redis counters the limits use)."""
    minute = int(time.time() // 60)
    keys = [key for d in deployments for key in (f"al:deployment:{d.id}:m:{minute}", f"al:deployment:{d.id}:t:{minute}")]
    try:
        values = await redis.mget(keys)
    except (RedisError, OSError):
        return random.sample(deployments, len(deployments))

    def headroom(index: int) -> float:
        deployment = deployments[index]
        used_requests, used_tokens = (int(v or 0) for v in values[index * 2: index * 2 + 2])
        shares = []
        if deployment.rpm:
            shares.append((deployment.rpm - used_requests) / deployment.rpm)
        if deployment.tpm:
            shares.append((deployment.tpm - used_tokens) / deployment.tpm)
        return min(shares) if shares else 1.0

    order = sorted(range(len(deployments)), key=lambda i: (-headroom(i), random.random()))
    return [deployments[i] for i in order]
