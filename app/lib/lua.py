"""Lua scripts for Redis, sent once and then run by their SHA."""

from __future__ import annotations

import hashlib

from redis.exceptions import NoScriptError


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis, keys: list[str], args: list) -> object:
        """Run on a redis-py client, or on the hot path's lean client (app/lib/redis_wire.py)."""
        if hasattr(redis, "run_script"):
            return await redis.run_script(self.sha, self.source, keys, args)
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a new or restarted Redis: load it with the first call
            return await redis.eval(self.source, len(keys), *keys, *args)
