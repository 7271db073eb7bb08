"""What a request costs: the deployment's own per-token prices, else genai-prices' bundled data.

genai-prices' own calculator is exact but costs ~0.3 ms a call, too much for every request.
Most models have flat prices, so their per-token prices are read from the catalog once an
hour and applied here with Decimal arithmetic; tiered prices (e.g. above 200k input tokens)
go through genai-prices itself when a request reaches a tier. The API (budget counters) and
the workers (ledger) use this one function, so both always agree to the last digit.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

import msgspec

log = logging.getLogger("alchemi.pricing")

MILLION = Decimal(1_000_000)
HUNDRED = Decimal(100)
# Our provider names → genai-prices' provider ids where they differ; None: self-hosted, no list price.
_CATALOG_PROVIDER: dict[str, str | None] = {
    "together_ai": "together", "fireworks_ai": "fireworks", "xai": "x-ai", "hosted_vllm": None, "ollama": None,
    "gemini": "google", "vertex_ai": "google", "bedrock": "aws",
}


class PriceSheet(msgspec.Struct, frozen=True):
    """Per-token prices in USD. `tier_from`: input tokens from which the catalog's tiered prices apply."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    tier_from: int | None = None
    ceiling_input: Decimal | None = None  # highest tier price: a safe bound for reservations
    ceiling_output: Decimal | None = None
    catalog_ref: tuple[str, str] | None = None  # (provider id, model) for the slow exact path


class TokenCounts(msgspec.Struct, frozen=True):
    prompt: int = 0  # includes cached reads and cache writes (OpenAI's convention)
    completion: int = 0  # includes reasoning tokens
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0  # part of `completion`; kept for reports


def sheet_from_deployment(input_cost_per_token: str | None, output_cost_per_token: str | None) -> PriceSheet | None:
    if input_cost_per_token is None and output_cost_per_token is None:
        return None
    return PriceSheet(Decimal(input_cost_per_token or 0), Decimal(output_cost_per_token or 0))


def _per_token(price) -> tuple[Decimal | None, Decimal | None, int | None]:
    """(base, ceiling, tier start) per token from a catalog price that may be tiered."""
    if price is None:
        return None, None, None
    if isinstance(price, Decimal):
        return price / MILLION, price / MILLION, None
    tiers = price.tiers or []
    ceiling = max([price.base, *(tier.price for tier in tiers)])
    start = min((tier.start for tier in tiers), default=None)
    return price.base / MILLION, ceiling / MILLION, start


@lru_cache(maxsize=4096)
def _catalog_sheet(provider: str, model: str, hour: int) -> PriceSheet | None:
    provider_id = _CATALOG_PROVIDER.get(provider, provider)
    if provider_id is None:
        return None
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        log.info("no list price", extra={"provider": provider, "model": model})
        return None
    prices = info.get_prices(datetime.now(tz=UTC))
    input_base, input_ceiling, input_tier = _per_token(prices.input_mtok)
    output_base, output_ceiling, output_tier = _per_token(prices.output_mtok)
    cache_read, _, _ = _per_token(prices.cache_read_mtok)
    cache_write, _, _ = _per_token(prices.cache_write_mtok)
    starts = [start for start in (input_tier, output_tier) if start is not None]
    return PriceSheet(
        input=input_base or Decimal(0), output=output_base or Decimal(0), cache_read=cache_read,
        cache_write=cache_write, tier_from=min(starts) if starts else None, ceiling_input=input_ceiling,
        ceiling_output=output_ceiling, catalog_ref=(provider_id, model),
    )


def catalog_sheet(provider: str, model: str) -> PriceSheet | None:
    return _catalog_sheet(provider, model, int(time.time() // 3600))


def sheet_for(provider: str, model: str, input_cost_per_token: str | None,
              output_cost_per_token: str | None) -> PriceSheet | None:
    """Deployment prices win over the catalog."""
    return sheet_from_deployment(input_cost_per_token, output_cost_per_token) or catalog_sheet(provider, model)


def cost(sheet: PriceSheet | None, tokens: TokenCounts) -> Decimal:
    """Provider cost of one request, exact."""
    if sheet is None:
        return Decimal(0)
    if sheet.tier_from is not None and tokens.prompt >= sheet.tier_from and sheet.catalog_ref is not None:
        return _catalog_cost(sheet.catalog_ref, tokens)
    cached = min(tokens.cached, tokens.prompt)
    cache_write = min(tokens.cache_write, tokens.prompt - cached)
    plain = tokens.prompt - cached - cache_write
    total = sheet.input * plain + sheet.output * tokens.completion
    total += (sheet.cache_read if sheet.cache_read is not None else sheet.input) * cached
    total += (sheet.cache_write if sheet.cache_write is not None else sheet.input) * cache_write
    return total


def worst_case(sheet: PriceSheet | None, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """An upper bound of `cost` for at most these many tokens (reservations)."""
    if sheet is None:
        return Decimal(0)
    input_price = max(sheet.input, sheet.ceiling_input or 0, sheet.cache_write or 0)
    output_price = max(sheet.output, sheet.ceiling_output or 0)
    return input_price * prompt_tokens + output_price * completion_tokens


def charged(provider_cost: Decimal, markup_percent: Decimal) -> Decimal:
    """The tenant's price: provider cost with the account's markup (negative: a discount)."""
    if not markup_percent:
        return provider_cost
    return provider_cost * (HUNDRED + markup_percent) / HUNDRED


def _catalog_cost(ref: tuple[str, str], tokens: TokenCounts) -> Decimal:
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=tokens.prompt, cache_read_tokens=tokens.cached or None,
                  cache_write_tokens=tokens.cache_write or None, output_tokens=tokens.completion)
    return Decimal(calc_price(usage, ref[1], provider_id=ref[0]).total_price)
