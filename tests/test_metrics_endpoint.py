"""`GET /metrics` after real traffic through the gateway (success, stream, 429, budget refusal, upstream
failure, bad key): every named series is there with the values the traffic implies, the whole exposition
is valid Prometheus text, worker job timings and queue depth show once workers ran jobs, worker-published
gauges (the audit backlog) appear, and a Redis that stops answering costs a bounded wait, not the scrape."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from decimal import Decimal

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from app.audit.shipping import ShipReport, publish_backlog
from tests.conftest import CANARY_PROVIDER_KEY
from tests.lib.prometheus_text import Family, parse
from tests.support.ledger import wait_for_rows

PROMPT = [{"role": "user", "content": "measure me please"}]


def _scrape(url: str) -> dict[str, Family]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def _deploy(admin, account: str, name: str, base_url: str, upstream: str = "openai/fake-model") -> None:
    admin.ok("POST", "/model/new", account, json={
        "model_name": name,
        "litellm_params": {"model": upstream, "api_base": base_url, "api_key": CANARY_PROVIDER_KEY},
        "model_info": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}})


def _total(families: dict[str, Family], name: str, suffix: str = "", **labels: str) -> float:
    family = families.get(name)
    return family.total(suffix, **labels) if family else 0.0


def _chat(url: str, key: str, model: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": PROMPT, **body}, timeout=30)


async def test_metrics_after_success_stream_429_budget_upstream_failure_and_bad_key(api, admin, fake, db):
    account = admin.create_account(f"metrics-{uuid.uuid4().hex[:6]}")
    group, broken = f"obs-{uuid.uuid4().hex[:6]}", f"obs-broken-{uuid.uuid4().hex[:6]}"
    _deploy(admin, account, group, fake.base_url)
    _deploy(admin, account, broken, fake.base_url, upstream="openai/error-500")
    admin.ok("POST", "/router/settings", account, json={"allowed_fails": 1, "cooldown_time": 60, "num_retries": 0})
    key = admin.generate_key(account)["key"]
    limited = admin.generate_key(account, rpm_limit=1)["key"]
    broke = admin.generate_key(account, max_budget=0.000000001)["key"]
    before = _scrape(api.url)

    answers = [_chat(api.url, key, group), _chat(api.url, key, group)]
    with httpx.stream("POST", f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": group, "messages": PROMPT, "stream": True,
                            "stream_options": {"include_usage": True}}, timeout=30) as stream:
        assert stream.status_code == 200
        events = [line for line in stream.iter_lines() if line.startswith("data: {")]
    limited_answers = [_chat(api.url, limited, group), _chat(api.url, limited, group)]
    refused_budget = _chat(api.url, broke, group)
    failed = _chat(api.url, key, broken)
    bad_key = _chat(api.url, key + "x", group)

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.status_code for a in limited_answers] == [200, 429]
    assert refused_budget.status_code == 400 and refused_budget.json()["error"]["type"] == "budget_exceeded"
    assert failed.status_code == 502 and bad_key.status_code == 401
    stream_usage = msgspec.json.decode(events[-1][6:])["usage"]
    usages = [a.json()["usage"] for a in answers + limited_answers[:1]] + [stream_usage]
    prompt_tokens = sum(u["prompt_tokens"] for u in usages)
    completion_tokens = sum(u["completion_tokens"] for u in usages)

    after = _scrape(api.url)

    chat = {"call_type": "chat", "model_group": group}
    assert _total(after, "alchemi_requests_total", status="success", **chat) == 4
    assert _total(after, "alchemi_request_duration_seconds", "_count", **chat) == 4
    assert 0 < _total(after, "alchemi_request_duration_seconds", "_sum", **chat) < 30
    assert _total(after, "alchemi_time_to_first_token_seconds", "_count", **chat) == 1
    assert (_total(after, "alchemi_time_to_first_token_seconds", "_sum", **chat)
            <= _total(after, "alchemi_request_duration_seconds", "_sum", **chat))
    assert _total(after, "alchemi_tokens_total", kind="prompt", **chat) == prompt_tokens
    assert _total(after, "alchemi_tokens_total", kind="completion", **chat) == completion_tokens
    expected_spend = Decimal("0.000001") * prompt_tokens + Decimal("0.000002") * completion_tokens
    assert _total(after, "alchemi_spend_usd_total", **chat) == pytest.approx(float(expected_spend))

    errors = "alchemi_request_errors_total"
    assert _total(after, errors, type="rate_limit_error", **chat) == 1
    assert _total(after, errors, type="budget_exceeded", **chat) == 1
    assert _total(after, errors, call_type="chat", model_group=broken, type="api_error", code="upstream_error") == 1
    assert (_total(after, errors, model_group="", type="authentication_error")
            - _total(before, errors, model_group="", type="authentication_error")) == 1
    assert _total(after, "alchemi_requests_total", call_type="chat", model_group=broken, status="error") == 1
    assert _total(after, "alchemi_upstream_failures_total", model_group=broken) == 1
    assert _total(after, "alchemi_deployment_cooldowns_total", model_group=broken) == 1
    for limit in ("rpm", "budget"):
        refusals = "alchemi_limit_refusals_total"
        assert _total(after, refusals, level="key", limit=limit) - _total(before, refusals, level="key", limit=limit) == 1
    assert "alchemi_usage_events_pending" in after
    assert after["alchemi_fleet_metrics_up"].value() == 1


async def test_worker_job_durations_outcomes_and_queue_depth_appear_after_jobs_ran(api, tenant, db):
    def usage_jobs(families) -> float:
        return _total(families, "alchemi_job_duration_seconds", "_count", queue="alchemi:usage", function="record_usage")

    before = usage_jobs(_scrape(api.url))
    reply = _chat(api.url, tenant.key, tenant.model)
    assert reply.status_code == 200
    await wait_for_rows(db, "request_id = $1", reply.headers["x-request-id"], expected=1)

    deadline = time.monotonic() + 10
    while usage_jobs(families := _scrape(api.url)) <= before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)

    assert usage_jobs(families) > before, "the worker counted the record_usage job that wrote the row"
    assert _total(families, "alchemi_jobs_total", queue="alchemi:usage", function="record_usage",
                  outcome="success") >= 1
    assert _total(families, "alchemi_job_duration_seconds", "_count", queue="alchemi:usage",
                  function="requeue_usage_batches") >= 1, "crons are counted too (this one runs at startup)"
    depth = families["alchemi_queue_depth"].value(queue="alchemi:usage")
    assert depth >= 0


async def test_the_audit_backlog_published_by_a_worker_shows_on_every_api_process(api, services, db):
    redis = aioredis.from_url(services.redis_url)
    try:
        report = ShipReport()
        await publish_backlog(db, redis, report)  # what the shipping cron does after every run
    finally:
        await redis.aclose()
    assert report.backlog is not None

    families = _scrape(api.url)

    assert families["alchemi_audit_backlog_events"].type == "gauge"
    assert families["alchemi_audit_backlog_events"].value() == report.backlog
    assert families["alchemi_audit_oldest_pending_seconds"].value() == pytest.approx(report.oldest_pending_s)


class _StallingProxy:
    """A TCP front for the (unix-socket) Redis that can stop answering, as a Redis under a stall does."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stalled = threading.Event()
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.socket_path)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.stalled.is_set() and not self.closing.is_set():
                    time.sleep(0.05)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.closing.set()
        self.listener.close()


def test_a_stalled_redis_costs_the_scrape_a_bounded_wait_and_shows_as_fleet_down(cluster, services):
    path = services.redis_url.removeprefix("unix://").split("?")[0]
    proxy = _StallingProxy(path)
    process = cluster.start_api({"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"})
    try:
        assert _scrape(process.url)["alchemi_fleet_metrics_up"].value() == 1
        proxy.stalled.set()
        started = time.monotonic()
        families = _scrape(process.url)
        assert time.monotonic() - started < 3, "the Redis part is given about a second"
        assert families["alchemi_fleet_metrics_up"].value() == 0
        assert "alchemi_requests_total" in families, "this process's own numbers are still served"
        proxy.stalled.clear()
        deadline = time.monotonic() + 10
        while _scrape(process.url)["alchemi_fleet_metrics_up"].value() != 1:
            assert time.monotonic() < deadline, "fleet metrics come back with Redis"
            time.sleep(0.2)
    finally:
        proxy.stalled.clear()
        process.stop()
        proxy.close()
