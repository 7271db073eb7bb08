"""What a request cost: the deployment's own per-token prices, else genai-prices' bundled data."""

from __future__ import annotations

import logging
from decimal import Decimal

from app.billing.usage import UsageEvent

log = logging.getLogger("alchemi.pricing")

# Our provider names → genai-prices' provider ids where they differ; None: self-hosted, no list price.
_GENAI_PROVIDER: dict[str, str | None] = {
    "together_ai": "together", "fireworks_ai": "fireworks", "xai": "x-ai", "hosted_vllm": None, "ollama": None,
}
_unpriced: set[tuple[str, str]] = set()


def _catalog_cost(event: UsageEvent) -> Decimal:
    provider_id = _GENAI_PROVIDER.get(event.provider, event.provider)
    if provider_id is None or (event.provider, event.upstream_model) in _unpriced:
        return Decimal(0)
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=event.prompt_tokens, cache_read_tokens=event.cached_tokens or None,
                  output_tokens=event.completion_tokens)
    try:
        price = calc_price(usage, event.upstream_model, provider_id=provider_id)
    except Exception:  # noqa: BLE001 - unknown model or provider: no list price
        _unpriced.add((event.provider, event.upstream_model))
        log.info("no list price", extra={"provider": event.provider, "model": event.upstream_model})
        return Decimal(0)
    return Decimal(price.total_price)


def cost_of(event: UsageEvent) -> Decimal:
    """Deployment prices win over the catalog; prompt tokens include cached ones (OpenAI's convention)."""
    if event.input_cost_per_token is not None or event.output_cost_per_token is not None:
        input_price = Decimal(event.input_cost_per_token or 0)
        output_price = Decimal(event.output_cost_per_token or 0)
        return input_price * event.prompt_tokens + output_price * event.completion_tokens
    return _catalog_cost(event)
