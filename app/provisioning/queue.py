"""The one way a recorded event reaches the workers; its job id makes queueing it again harmless."""

from __future__ import annotations

from arq import ArqRedis

from app.lib.jobs import enqueue


def job_id(event_id: int) -> str:
    return f"provision_user:{event_id}"


async def queue_event(redis: ArqRedis, event_id: int) -> None:
    await enqueue(redis, "provision_user", event_id, job_id=job_id(event_id))
