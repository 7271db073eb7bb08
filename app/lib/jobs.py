"""The one way work reaches the arq workers: `enqueue(...)`, with msgspec on the wire."""

from __future__ import annotations

from typing import Any

import msgspec
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

USAGE_QUEUE = "alchemi:usage"

def _encode_other(obj: Any) -> Any:
    # arq stores a failed job's exception as its result; keep only its type (messages can hold data).
    if isinstance(obj, BaseException):
        return type(obj).__name__
    raise NotImplementedError(f"cannot serialize {type(obj).__name__} into a job")


_encode = msgspec.msgpack.Encoder(enc_hook=_encode_other).encode
_decode = msgspec.msgpack.Decoder().decode


def serialize_job(payload: dict[str, Any]) -> bytes:
    return _encode(payload)


def deserialize_job(raw: bytes) -> dict[str, Any]:
    return _decode(raw)


def redis_settings(redis_url: str) -> RedisSettings:
    return RedisSettings.from_dsn(redis_url)


async def create_job_pool(redis_url: str) -> ArqRedis:
    return await create_pool(
        redis_settings(redis_url),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        default_queue_name=USAGE_QUEUE,
    )


async def enqueue(pool: ArqRedis, function: str, *args: Any, job_id: str, queue: str = USAGE_QUEUE) -> None:
    """Queue `function(*args)`; the job id makes a repeated enqueue of the same work a no-op while it lives."""
    await pool.enqueue_job(function, *args, _job_id=job_id, _queue_name=queue)
