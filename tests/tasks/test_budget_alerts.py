"""Soft-budget alerts: crossing 50, 80 and 100 % of a key's budget in a period POSTs each threshold
once to the account's webhook, however many requests follow in that period, and a webhook that
cannot be reached gets the alert once it can."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from arq import create_pool
from arq.jobs import Job, JobStatus

from app.billing import plan, pricing
from app.lib.jobs import USAGE_QUEUE, redis_settings
from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows
from tests.support.processes import free_port

INPUT_PRICE, OUTPUT_PRICE = "0.0000001", "0.00001"
MESSAGES = [{"role": "user", "content": "tell me three things"}]  # the fake counts 7 prompt tokens
COMPLETION_TOKENS = 5  # and always answers with 5, whatever max_tokens says


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that answers 200 and keeps every POSTed JSON body."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.posts.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def wait_for(self, count: int, timeout: float = 15, linger: float = 1.0) -> list[dict]:
        """The posts once there are `count`, after waiting a little longer to catch any extra one."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(linger)
        return list(self.posts)


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _reservation(max_tokens: int) -> Decimal:
    body = {"model": "m", "messages": MESSAGES, "max_tokens": max_tokens}
    return plan.reservation(pricing.sheet_from_deployment(INPUT_PRICE, OUTPUT_PRICE), body, "chat", None, Decimal(0))


async def test_each_threshold_is_posted_once_per_period(api, admin, fake, db, webhook):
    # What one request costs, and the most admission may reserve for it (app/billing/plan.py).
    cost = pricing.cost(pricing.sheet_from_deployment(INPUT_PRICE, OUTPUT_PRICE),
                        pricing.TokenCounts(prompt=7, completion=COMPLETION_TOKENS))
    honest, short = _reservation(COMPLETION_TOKENS), _reservation(1)
    # Admission only lets a request in while spend + its worst case fits the budget, so with an upstream
    # that keeps to max_tokens spend stays below max_budget − reservation + cost < max_budget: 100 % is
    # never reached. It is reached when an upstream answers with more tokens than max_tokens allowed
    # (the fake ignores max_tokens): a request reserved for 1 completion token that gets 5 overshoots.
    # The budget: 10 honest requests fit, leaving `rest`; an 11th honest one does not, a short one does.
    rest = Decimal("0.00003")
    assert short <= rest < cost < honest <= cost + rest
    budget = 10 * cost + rest

    account = admin.create_account(f"acct-{uuid.uuid4().hex[:8]}")
    admin.ok("PATCH", f"/accounts/{account}", json={"metadata": {"alert_webhook_url": webhook.url}})
    admin.add_model(account, "m", fake.base_url, api_key=CANARY_PROVIDER_KEY, input_cost_per_token=float(INPUT_PRICE),
                    output_cost_per_token=float(OUTPUT_PRICE))
    key = admin.generate_key(account, max_budget=float(budget), budget_duration="1d")
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=key["key"], max_retries=0)

    def ask(max_tokens: int) -> bool:
        try:
            client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=max_tokens)
            return True
        except openai.BadRequestError as exc:
            assert exc.body["type"] == "budget_exceeded"
            return False

    admitted = 0
    while ask(COMPLETION_TOKENS):
        admitted += 1
        assert admitted <= 10
    # 94 % spent: 50 and 80 crossed (at the 6th and 9th) by the ledger; the 11th request is refused
    # because its worst case no longer fits, and that refusal is the 100 % alert.
    assert admitted == 10
    await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=10)
    posts = webhook.wait_for(3)
    assert sorted(post["threshold_percent"] for post in posts) == [50, 80, 100]

    assert ask(1)  # an overshoot still fits (the fake ignores max_tokens): nothing is posted again
    assert not ask(1) and not ask(COMPLETION_TOKENS)
    await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=11)
    assert len(webhook.wait_for(3)) == 3

    period_ends = {post["period_end"] for post in posts}
    assert len(period_ends) == 1  # one period: today's (UTC)
    for post in posts:
        assert post["path"] == "/hook"
        assert (post["type"], post["account_id"], post["level"], post["entity_id"]) == (
            "budget_alert", account, "key", key["token"])
        spend, max_budget = Decimal(post["spend"]), Decimal(post["max_budget"])
        assert max_budget == budget
        # The spend recorded when the threshold was crossed: whole requests, at or past the threshold
        # (the refusal reports what was spent when it refused: all ten).
        assert spend % cost == 0
        if post["threshold_percent"] < 100:
            assert spend * 100 >= budget * post["threshold_percent"]
    assert Decimal(next(p for p in posts if p["threshold_percent"] == 100)["spend"]) == 10 * cost

    delivered = await db.fetch("SELECT threshold, delivered_at FROM budget_alerts WHERE account_id = $1",
                               uuid.UUID(account))
    assert sorted(row["threshold"] for row in delivered) == [50, 80, 100]
    assert all(row["delivered_at"] is not None for row in delivered)


async def test_an_unreachable_webhook_is_tried_again_until_it_answers(api, admin, fake, db, services, webhook):
    cost = pricing.cost(pricing.sheet_from_deployment(INPUT_PRICE, OUTPUT_PRICE),
                        pricing.TokenCounts(prompt=7, completion=COMPLETION_TOKENS))
    budget = Decimal("0.0001")
    assert _reservation(COMPLETION_TOKENS) <= budget <= 2 * cost  # one request is let in and crosses 50 %
    account = admin.create_account(f"acct-{uuid.uuid4().hex[:8]}")
    nobody_listens = f"http://127.0.0.1:{free_port()}/hook"
    admin.ok("PATCH", f"/accounts/{account}", json={"metadata": {"alert_webhook_url": nobody_listens}})
    admin.add_model(account, "m", fake.base_url, api_key=CANARY_PROVIDER_KEY, input_cost_per_token=float(INPUT_PRICE),
                    output_cost_per_token=float(OUTPUT_PRICE))
    key = admin.generate_key(account, max_budget=float(budget), budget_duration="1d")
    openai.OpenAI(base_url=f"{api.url}/v1", api_key=key["key"], max_retries=0).chat.completions.create(
        model="m", messages=MESSAGES, max_tokens=COMPLETION_TOKENS)

    # The first delivery finds nothing listening; the job must wait to be tried again, not give up.
    redis = await create_pool(redis_settings(services.redis_url))
    try:
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            alert_id = await db.fetchval("SELECT id FROM budget_alerts WHERE account_id = $1", uuid.UUID(account))
            if alert_id is not None:
                status = await Job(f"budget-alert-{alert_id}", redis, _queue_name=USAGE_QUEUE).status()
                if status in (JobStatus.deferred, JobStatus.complete):
                    break
            await asyncio.sleep(0.1)
        assert status == JobStatus.deferred
    finally:
        await redis.aclose()

    admin.ok("PATCH", f"/accounts/{account}", json={"metadata": {"alert_webhook_url": webhook.url}})
    posts = webhook.wait_for(1, timeout=30)
    assert [(post["threshold_percent"], post["entity_id"]) for post in posts] == [(50, key["token"])]
    assert await db.fetchval("SELECT delivered_at FROM budget_alerts WHERE id = $1", alert_id) is not None
