"""Prices: the deployment's own per-token prices win; otherwise genai-prices' bundled (offline) data."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import openai

from app.billing.usage import price_event as price
from app.billing.usage import UsageEvent
from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows


def cost_of(event: UsageEvent) -> Decimal:
    return price(event).provider_cost


def _event(**fields) -> UsageEvent:
    now = time.time()
    base = dict(request_id=uuid.uuid4().hex, account_id=str(uuid.uuid4()), call_type="chat", model="m", model_group="m",
                provider="openai", upstream_model="gpt-4o-mini", status="success", started_at=now, ended_at=now,
                prompt_tokens=1_000, completion_tokens=2_000)
    return UsageEvent(**{**base, **fields})


def test_deployment_prices_are_exact_decimals():
    event = _event(input_cost_per_token="0.0000001", output_cost_per_token="0.0000003")
    assert cost_of(event) == Decimal("0.0007")


def test_catalog_price_for_a_known_model():
    # gpt-4o-mini lists at $0.15 / $0.60 per million input / output tokens.
    assert cost_of(_event()) == Decimal("0.00015") + Decimal("0.0012")


def test_cached_input_tokens_are_charged_at_the_cached_rate():
    cached = cost_of(_event(prompt_tokens=1_000, cached_tokens=1_000, completion_tokens=0))
    uncached = cost_of(_event(prompt_tokens=1_000, cached_tokens=0, completion_tokens=0))
    assert cached == uncached / 2  # gpt-4o-mini cache reads cost half


def test_markup_and_discount_from_the_accounts_price_book():
    base = price(_event(input_cost_per_token="0.000001", output_cost_per_token="0.000002"))
    marked = price(_event(input_cost_per_token="0.000001", output_cost_per_token="0.000002", markup_percent="25"))
    discounted = price(_event(input_cost_per_token="0.000001", output_cost_per_token="0.000002", markup_percent="-10"))
    assert base.provider_cost == base.cost == Decimal("0.005")
    assert marked.provider_cost == Decimal("0.005") and marked.cost == Decimal("0.00625")
    assert discounted.cost == Decimal("0.0045")


def test_cache_writes_are_charged_at_the_cache_write_rate():
    # claude-sonnet-4-5: $3 input, $3.75 cache write, $0.30 cache read per million tokens.
    event = _event(provider="anthropic", upstream_model="claude-sonnet-4-5", prompt_tokens=3_000, cached_tokens=1_000,
                   cache_write_tokens=1_000, completion_tokens=0)
    assert cost_of(event) == (Decimal("3") * 1000 + Decimal("3.75") * 1000 + Decimal("0.3") * 1000) / 1_000_000


def test_tiered_prices_above_the_tier_go_through_the_catalog():
    # gemini-2.5-pro doubles its input price above 200k prompt tokens.
    below = cost_of(_event(provider="gemini", upstream_model="gemini-2.5-pro", prompt_tokens=100_000, completion_tokens=0))
    above = cost_of(_event(provider="gemini", upstream_model="gemini-2.5-pro", prompt_tokens=300_000, completion_tokens=0))
    assert below == Decimal("0.125")
    assert above == Decimal("0.75")


def test_unknown_models_cost_nothing_rather_than_failing():
    assert cost_of(_event(upstream_model="my-own-finetune-xyz")) == 0
    assert cost_of(_event(provider="hosted_vllm", upstream_model="llama")) == 0


async def test_a_deployment_without_prices_is_charged_from_the_catalog(api, admin, fake, tenant, db):
    admin.ok("POST", "/model/new", tenant.account_id, json={
        "model_name": "catalogued", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake.base_url,
                                                       "api_key": CANARY_PROVIDER_KEY}})
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)
    reply = client.chat.completions.create(model="catalogued", messages=[{"role": "user", "content": "price me"}])

    rows = await wait_for_rows(db, "account_id = $1 AND model = 'catalogued'", uuid.UUID(tenant.account_id), expected=1)
    expected = (Decimal("0.15") * reply.usage.prompt_tokens + Decimal("0.6") * reply.usage.completion_tokens) / 1_000_000
    assert rows[0]["cost"] == expected
