"""From a caller and a deployment to the limits a request must pass, and what it may cost at most."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec

from app.billing import pricing, tokens
from app.billing.limits import LIFETIME, LevelLimits, budget_units
from app.billing.periods import current_period

DEFAULT_OUTPUT_CAP = 4096  # completion tokens reserved when neither the request nor the model says
PROMPT_MARGIN = 1.25  # other vendors' tokenizers may count more than o200k does
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class LevelSpec(msgspec.Struct, frozen=True):
    """A level's configured limits, as cached with the caller's principal."""

    level: str
    entity_id: str
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None

    @property
    def limited(self) -> bool:
        return any(value is not None for value in (self.max_budget, self.rpm, self.tpm, self.parallel))

    def at(self, now: datetime) -> LevelLimits:
        period = LIFETIME
        if self.max_budget is not None and self.budget_duration:
            _, end = current_period(self.budget_reset_at or _EPOCH, self.budget_duration, now)
            period = int(end.timestamp())
        return LevelLimits(self.level, self.entity_id, budget_units(self.max_budget), period, self.rpm, self.tpm,
                           self.parallel)


def levels_for(specs: tuple[LevelSpec, ...], now: datetime | None = None) -> tuple[LevelLimits, ...]:
    """The limits a request admitted now must pass (periods resolved); the same answer for a whole second."""
    if not specs:
        return ()
    if now is not None:
        return tuple(spec.at(now) for spec in specs if spec.limited)
    return _levels_within(specs, int(time.time()))


@lru_cache(maxsize=8192)
def _levels_within(specs: tuple[LevelSpec, ...], second: int) -> tuple[LevelLimits, ...]:
    moment = datetime.fromtimestamp(second, tz=timezone.utc)
    return tuple(spec.at(moment) for spec in specs if spec.limited)


def has_budget(levels: tuple[LevelLimits, ...]) -> bool:
    return any(level.budget_units is not None for level in levels)


def completion_cap(body: dict[str, Any], model_cap: int | None) -> int:
    requested = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
    cap = requested if isinstance(requested, int) and requested > 0 else (model_cap or DEFAULT_OUTPUT_CAP)
    choices = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 1) > 0 else 1
    return cap * choices


def prompt_ceiling(body: dict[str, Any], call_type: str) -> int:
    if call_type == "embeddings":
        counted = tokens.count_input(body.get("input"))
    elif call_type == "completion":
        counted = tokens.count_input(body.get("prompt"))
    elif call_type in ("responses", "messages"):
        # Their inputs nest differently; the whole body's text is a safe over-count.
        counted = tokens.count_text(msgspec.json.encode(body).decode())
    else:
        counted = tokens.count_messages(body.get("messages") or [])
        if body.get("tools"):
            counted += tokens.count_text(msgspec.json.encode(body["tools"]).decode())
    return int(counted * PROMPT_MARGIN) + 16


def reservation(sheet: pricing.PriceSheet | None, body: dict[str, Any], call_type: str, model_cap: int | None,
                markup_percent: Decimal) -> Decimal:
    """The most this request can cost the tenant: every prompt token at the highest input price,
    and the whole output allowance at the highest output price."""
    completion = 0 if call_type == "embeddings" else completion_cap(body, model_cap)
    return pricing.charged(pricing.worst_case(sheet, prompt_ceiling(body, call_type), completion), markup_percent)
