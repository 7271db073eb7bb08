"""Failed console logins, counted per (login name, client address) in Redis across every API process.

After `LIMIT` failures within `WINDOW` seconds, that pair gets 429 until the window ends, right or
wrong password alike; a successful login clears its counter. The login name is hashed: Redis never
holds who tried.
"""

from __future__ import annotations

import hashlib

from app.lib.errors import RateLimited

LIMIT = 10
WINDOW = 15 * 60
_PREFIX = "alchemi:login:failures:"


def _key(login: str, client: str) -> str:
    return _PREFIX + hashlib.sha256(f"{login.strip().lower()}\n{client}".encode()).hexdigest()


class LoginThrottle:
    def __init__(self, redis) -> None:
        self._redis = redis

    async def check(self, login: str, client: str) -> None:
        key = _key(login, client)
        failures = int(await self._redis.get(key) or 0)
        if failures >= LIMIT:
            retry_after = max(int(await self._redis.ttl(key)), 1)
            raise RateLimited("Too many failed sign-in attempts: try again later", code="too_many_login_attempts",
                              headers={"retry-after": str(retry_after)})

    async def failed(self, login: str, client: str) -> None:
        key = _key(login, client)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=WINDOW, nx=True)  # the window starts at the first failure (EXPIRE NX needs Redis 7)
            pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, login: str, client: str) -> None:
        await self._redis.delete(_key(login, client))
