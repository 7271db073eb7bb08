"""Prices: the deployment's own per-token prices win; otherwise genai-prices' bundled (offline) data."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import openai

from app.billing.pricing import cost_of
from app.billing.usage import UsageEvent
from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows


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
