"""An account's routing settings (`/router/settings`), with LiteLLM's names."""

from __future__ import annotations

import msgspec

STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing")
_ALIASES = {"latency-based": "latency-based-routing", "usage-based": "usage-based-routing",
            "usage-based-routing-v2": "usage-based-routing", "shuffle": "simple-shuffle"}


class RouterSettings(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    routing_strategy: str = "simple-shuffle"
    model_group_routing_strategy: dict[str, str] = {}  # per model group, overrides routing_strategy
    num_retries: int = 2  # further attempts after the first, across the group's deployments
    retry_after: float = 0.05  # seconds before re-trying a deployment already tried (doubles each time)
    allowed_fails: int = 3  # failures within `failure_window` that put a deployment in cooldown
    failure_window: float = 60.0
    cooldown_time: float = 30.0
    fallbacks: list[dict[str, list[str]]] = []  # [{"gpt-4o": ["claude-sonnet", "gemini-pro"]}]
    context_window_fallbacks: list[dict[str, list[str]]] = []

    def strategy_for(self, model_group: str) -> str:
        return normalise_strategy(self.model_group_routing_strategy.get(model_group, self.routing_strategy))

    def fallbacks_for(self, model_group: str, *, context_window: bool = False) -> list[str]:
        rules = self.context_window_fallbacks if context_window else self.fallbacks
        for rule in rules:
            if model_group in rule:
                return list(rule[model_group])
        return []


def normalise_strategy(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise ValueError(f"unknown routing strategy {name!r}; use one of {', '.join(STRATEGIES)}")
    return name


def parse_settings(raw: dict | None) -> RouterSettings:
    """Stored settings; anything unreadable falls back to the defaults rather than breaking traffic."""
    try:
        return msgspec.convert(raw or {}, RouterSettings)
    except msgspec.ValidationError:
        return RouterSettings()
