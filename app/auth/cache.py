"""In-process cache of key hash → principal, dropped on invalidation messages from any process."""

from __future__ import annotations

import time

from app.auth.principal import Principal
from app.lib.invalidation import InvalidationBus

_UNKNOWN = object()


class PrincipalCache:
    def __init__(self, bus: InvalidationBus, ttl: float, negative_ttl: float = 1.0) -> None:
        self._bus = bus
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        # Bumped by every invalidation: a load that started before one must not be stored after it.
        self.generation = 0
        bus.subscribe(self._on_invalidate)

    def get(self, key_hash: str) -> Principal | None | object:
        """The cached principal, None for a cached refusal, or _UNKNOWN when the database must be asked."""
        if not self._bus.healthy:
            return _UNKNOWN
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return _UNKNOWN
        return entry[0]

    def put(self, key_hash: str, principal: Principal | None, generation: int) -> None:
        if generation != self.generation:
            return
        ttl = self._ttl if principal is not None else self._negative_ttl
        self._entries[key_hash] = (principal, time.monotonic() + ttl)

    def _on_invalidate(self, topic: str, ident: str) -> None:
        self.generation += 1
        if topic == "key":
            self._entries.pop(ident, None)
        elif topic == "account":
            for key_hash, (principal, _) in list(self._entries.items()):
                if principal is None or str(principal.account_id) == ident:
                    del self._entries[key_hash]
        elif topic == "all":
            self._entries.clear()


UNKNOWN = _UNKNOWN
