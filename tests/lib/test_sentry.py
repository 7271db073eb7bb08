"""Sentry, as a real API process and a real worker send it to a Sentry ingest (tests/fakes/sentry.py): an
unhandled error arrives tagged with its request (or job) and account, and without the prompt, the keys or
the payload that were around it. The scrubbing rules themselves are checked on a hand-made event first."""

from __future__ import annotations

import time
import uuid

import httpx
import msgspec
import pytest

from app.lib.jobs import create_job_pool, enqueue
from app.lib.observability import before_breadcrumb, before_send
from tests.conftest import CANARY_PROVIDER_KEY, MASTER_KEY, make_tenant
from tests.fakes.asgi import headers_of, read_body, send_json
from tests.fakes.sentry import FakeSentry
from tests.fakes.threaded_server import ThreadedServer

MARKERS = [uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]]  # words only this prompt has
PROMPT = f"please summarise the private medical history of patient {MARKERS[0]} born in {MARKERS[1]}"


def _leaks(blob: str, *secrets: str) -> list[str]:
    """What of the secrets and of the prompt (its own words, any three words in a row) is in `blob`."""
    words = PROMPT.split()
    fragments = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    return [s for s in (*secrets, *MARKERS, *fragments) if s in blob]


def test_before_send_drops_requests_locals_and_quoted_values_and_redacts_secrets():
    event = {
        "logger": "alchemi.errors",
        "request": {"headers": {"authorization": f"Bearer {MASTER_KEY}"}, "data": PROMPT},
        "user": {"ip_address": "10.0.0.1"},
        "exception": {"values": [{
            "type": "DataError",
            "value": f"invalid input for query argument $1: '{PROMPT} {CANARY_PROVIDER_KEY}' (an integer is required)",
            "stacktrace": {"frames": [{"function": "run", "vars": {"body": PROMPT}}]}}]},
        "logentry": {"message": "job %s failed: %s", "params": [PROMPT], "formatted": f"job x failed: {PROMPT}"},
        "extra": {"path": "/v1/messages", "detail": f'upstream said "{PROMPT}"', "payload": {"messages": PROMPT}},
        "breadcrumbs": {"values": [{"category": "httpx", "message": f"POST https://x/?key={CANARY_PROVIDER_KEY}",
                                    "data": {"url": PROMPT}}]},
    }

    sent = before_send(event, {})
    blob = msgspec.json.encode(sent).decode()

    assert _leaks(blob, MASTER_KEY, CANARY_PROVIDER_KEY) == []
    assert "request" not in sent and "user" not in sent
    value = sent["exception"]["values"][0]
    assert value["value"] == "invalid input for query argument $1: '…' (an integer is required)"
    assert "vars" not in value["stacktrace"]["frames"][0]
    assert sent["logentry"] == {"message": "job %s failed: %s"}
    assert sent["extra"] == {"path": "/v1/messages", "detail": "upstream said '…'"}
    # asyncpg cuts long values short, leaving the quote open: the rest of the message goes.
    cut = before_send({"exception": {"values": [{"type": "DataError", "value":
                      f"invalid input for query argument $1: {repr(PROMPT)[:40]}... (an integer is required)"}]}}, {})
    assert cut["exception"]["values"][0]["value"] == "invalid input for query argument $1: '…"
    # What helps to debug stays: quoted identifiers are no one's data.
    kept = before_send({"exception": {"values": [{"type": "AttributeError",
                                                  "value": "'str' object has no attribute 'get'"}]}}, {})
    assert kept["exception"]["values"][0]["value"] == "'str' object has no attribute 'get'"


def test_breadcrumbs_keep_the_log_template_not_its_arguments():
    class Record:
        msg = "upstream answered %s"

    crumb = before_breadcrumb({"category": "alchemi.gateway", "level": "info", "message": f"upstream answered {PROMPT}",
                               "data": {"body": PROMPT}}, {"log_record": Record()})
    assert crumb == {"category": "alchemi.gateway", "level": "info", "message": "upstream answered %s"}


class _GarbageUpstream:
    """An OpenAI-compatible upstream whose 200 answer is not a chat completion: `message` is a string,
    echoing the prompt and the credential it was sent — the gateway cannot translate it."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = msgspec.json.decode(await read_body(receive))
        echo = f"{body['messages'][-1]['content']} {headers_of(scope).get('authorization', '')}"
        await send_json(send, 200, {"id": "chatcmpl-garbage", "object": "chat.completion", "created": 0,
                                    "model": body["model"], "choices": [{"index": 0, "message": echo,
                                                                         "finish_reason": "stop"}],
                                    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})


@pytest.fixture
def sentry():
    with FakeSentry() as server:
        yield server


def test_an_unhandled_api_error_reaches_sentry_tagged_and_without_prompt_or_keys(cluster, admin, sentry):
    process = cluster.start_api({"SENTRY_DSN": sentry.dsn})
    try:
        with ThreadedServer(_GarbageUpstream(), "garbage") as upstream:
            tenant = make_tenant(admin, upstream)  # its deployment's key is the canary provider key
            response = httpx.post(f"{process.url}/v1/messages", headers={"x-api-key": tenant.key},
                                  json={"model": tenant.model, "max_tokens": 50,
                                        "messages": [{"role": "user", "content": PROMPT}]}, timeout=30)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        request_id = response.headers["x-request-id"]

        event = sentry.wait_for(lambda e: (e.get("tags") or {}).get("request_id") == request_id)
    finally:
        process.stop()

    assert event["tags"]["account_id"] == tenant.account_id
    assert event["tags"]["component"] == "api"
    assert event["exception"]["values"][-1]["type"] == "AttributeError"
    everything = b"\n".join(sentry.raw).decode(errors="replace")
    assert _leaks(everything, tenant.key, CANARY_PROVIDER_KEY, MASTER_KEY) == []


@pytest.fixture
def sentry_worker(cluster, services, sentry):
    """A worker of its own (Redis database 1) so that it, not the session's worker, takes the jobs below."""
    redis_url = services.redis_url.replace("db=0", "db=1")
    assert redis_url != services.redis_url
    process = cluster.start_worker({"SENTRY_DSN": sentry.dsn, "REDIS_URL": redis_url})
    yield redis_url
    process.stop()


async def test_a_failed_worker_job_reaches_sentry_once_tagged_with_job_and_account(sentry_worker, sentry, tenant):
    pool = await create_job_pool(sentry_worker)
    corrupt_alert, corrupt_refusal = f"sentry-a-{uuid.uuid4().hex[:8]}", f"sentry-b-{uuid.uuid4().hex[:8]}"
    try:
        # Corrupted payloads: the first fails in PostgreSQL with an error that quotes the payload.
        await enqueue(pool, "deliver_budget_alert", f"{PROMPT} {CANARY_PROVIDER_KEY}", job_id=corrupt_alert)
        await enqueue(pool, "record_budget_refusal", tenant.account_id, "key", f"{PROMPT} {MASTER_KEY}",
                      int(time.time()) + 3600, "1", "1", job_id=corrupt_refusal)

        alert = sentry.wait_for(lambda e: (e.get("tags") or {}).get("request_id") == corrupt_alert, timeout=30)
        refusal = sentry.wait_for(lambda e: (e.get("tags") or {}).get("request_id") == corrupt_refusal, timeout=30)
    finally:
        await pool.aclose()

    assert alert["tags"]["component"] == "worker"
    assert alert["exception"]["values"][-1]["type"] == "DataError"
    assert "'…'" in alert["exception"]["values"][-1]["value"], "the quoted payload was cut out"
    assert refusal["tags"]["account_id"] == tenant.account_id
    assert refusal["exception"]["values"][-1]["type"] == "ValueError"
    time.sleep(2)  # arq logs each failure after the job: that line must not become a second event
    tagged = [e for e in sentry.events if (e.get("tags") or {}).get("request_id") in (corrupt_alert, corrupt_refusal)]
    assert len(tagged) == 2
    everything = b"\n".join(sentry.raw).decode(errors="replace")
    assert _leaks(everything, CANARY_PROVIDER_KEY, MASTER_KEY, tenant.key) == []
