"""Cache invalidation across every API process, over Redis pub/sub.

Messages are short strings `<topic>:<id>`: `key:<hash>`, `account:<uuid>`, `models:<uuid>`.
While the subscription is down, `healthy` is False and caches must not be trusted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis

CHANNEL = "alchemi:invalidate"
log = logging.getLogger("alchemi.invalidation")

Handler = Callable[[str, str], None]


class InvalidationBus:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._handlers: list[Handler] = []
        self._task: asyncio.Task | None = None
        self.healthy = False

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, topic: str, ident: str) -> None:
        await self._redis.publish(CHANNEL, f"{topic}:{ident}")

    def _dispatch(self, topic: str, ident: str) -> None:
        for handler in self._handlers:
            handler(topic, ident)

    async def start(self) -> None:
        connected = asyncio.Event()
        self._task = asyncio.create_task(self._listen(connected), name="invalidation-listener")
        await asyncio.wait_for(connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _listen(self, connected: asyncio.Event) -> None:
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                # Whatever changed while we were deaf is unknown: start from empty caches.
                self._dispatch("all", "")
                self.healthy = True
                connected.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    topic, _, ident = message["data"].decode().partition(":")
                    self._dispatch(topic, ident)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure means: reconnect
                log.warning("invalidation subscription lost, reconnecting", extra={"error": type(exc).__name__})
            finally:
                self.healthy = False
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
