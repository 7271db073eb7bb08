"""Structured logs as an operator reads them: JSON lines naming the request and the account, in the API and
in the workers; one access line per management request, none per data-plane request unless it failed
with a 5xx; never a body."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from app.lib.jobs import create_job_pool, enqueue
from tests.conftest import CANARY_PROVIDER_KEY

PROMPT_TEXT = "a sentence only this prompt contains " + uuid.uuid4().hex


def _lines(path, match, timeout: float = 10.0) -> list[dict]:
    """The JSON lines of a process log that `match`, waiting a little for them to be written."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for raw in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and match(entry):
                found.append(entry)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _worker(cluster):
    return next(p for p in cluster.processes if p.name == "worker")


def test_a_management_request_leaves_one_access_line_with_its_ids_and_no_body(api, admin, tenant):
    ident = f"mgmt-{uuid.uuid4().hex[:12]}"
    response = admin.http.post("/key/generate", headers={**admin.headers(tenant.account_id), "x-request-id": ident},
                               json={"key_alias": PROMPT_TEXT})
    assert response.status_code == 200

    lines = _lines(api.log_path, lambda e: e.get("request_id") == ident)

    access = [e for e in lines if e["logger"] == "alchemi.access"]
    assert len(access) == 1
    assert access[0] | {"time": None, "duration_ms": None} == {
        "time": None, "level": "info", "logger": "alchemi.access", "message": "request", "request_id": ident,
        "account_id": tenant.account_id, "method": "POST", "route": "/key/generate", "status": 200,
        "duration_ms": None}
    assert access[0]["duration_ms"] >= 0
    assert PROMPT_TEXT not in api.log_path.read_text(errors="replace")


def test_data_plane_requests_log_nothing_unless_they_fail_with_a_5xx(api, admin, fake, tenant):
    admin.add_model(tenant.account_id, "logs-broken", fake.base_url, upstream="openai/error-500",
                    api_key=CANARY_PROVIDER_KEY)
    headers = {"authorization": f"Bearer {tenant.key}"}
    body = {"messages": [{"role": "user", "content": PROMPT_TEXT}]}

    ok = httpx.post(f"{api.url}/v1/chat/completions", headers=headers, json={"model": tenant.model, **body})
    failed = httpx.post(f"{api.url}/v1/chat/completions", headers=headers, json={"model": "logs-broken", **body})
    assert ok.status_code == 200 and failed.status_code == 502

    failed_lines = _lines(api.log_path, lambda e: e.get("request_id") == failed.headers["x-request-id"])
    error = [e for e in failed_lines if e["logger"] == "alchemi.access"]
    assert len(error) == 1
    assert {k: error[0][k] for k in ("level", "message", "account_id", "method", "route", "status")} == {
        "level": "error", "message": "request failed", "account_id": tenant.account_id, "method": "POST",
        "route": "/v1/chat/completions", "status": 502}
    assert error[0]["duration_ms"] > 0
    # A line written in the middle of the request (routing) names the same request and account.
    assert all(e["account_id"] == tenant.account_id for e in failed_lines)
    assert _lines(api.log_path, lambda e: e.get("request_id") == ok.headers["x-request-id"], timeout=1) == []
    assert PROMPT_TEXT not in api.log_path.read_text(errors="replace")


@pytest.fixture
async def jobs(services):
    pool = await create_job_pool(services.redis_url)
    yield pool
    await pool.aclose()


async def test_a_worker_job_logs_with_the_job_id_as_request_id_and_its_account(cluster, tenant, jobs):
    job_id = f"logs-job-{uuid.uuid4().hex[:8]}"
    # A corrupted payload: the entity id is no UUID, so the job fails (for good) after binding its account.
    await enqueue(jobs, "record_budget_refusal", tenant.account_id, "key", "not-an-entity-id",
                  int(time.time()) + 3600, "1", "1", job_id=job_id)

    lines = _lines(_worker(cluster).log_path, lambda e: e.get("request_id") == job_id, timeout=20)

    failure = [e for e in lines if e["level"] == "error"]
    assert failure, "arq's own 'job failed' line names the job"
    assert failure[0]["account_id"] == tenant.account_id
    assert "record_budget_refusal" in failure[0]["message"] and "ValueError" in failure[0]["exception"]
