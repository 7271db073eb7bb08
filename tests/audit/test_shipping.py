"""Shipping the audit trail to OpenObserve (its stand-in: tests/fakes/openobserve.py): every event lands
exactly once with its event id, whatever OpenObserve does meanwhile (refuses some records in a 200, answers
5xx, times out, is gone for a while), nothing is lost, the backlog is visible, and no secret leaves.

Most tests run the worker's job function in-process with a ctx built like workers/settings.startup, so a
run happens exactly when the test says; the last one runs a real worker process."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from app.audit.openobserve import micros
from app.audit.shipping import PAUSE_KEY
from app.lib import worker_metrics
from tasks.audit import ship_audit_events
from tests.audit.outbox_support import (O2_PASSWORD, O2_USER, WorkerCtx, held_ids, make_events, new_account,
                                        o2, other_redis_db, piccolo, settings_for, ship_until, shipped)
from tests.conftest import CANARY_PROVIDER_KEY, MASTER_KEY

__all__ = ["o2", "piccolo"]  # fixtures


async def _backlog(redis) -> dict[str, float]:
    return (await worker_metrics.read_all(redis)).get("audit", {})


async def test_each_event_lands_once_with_its_event_id_and_fields(services, db, piccolo, o2):
    account_id = await new_account(db)
    ids = await make_events(account_id, 3, action="key.updated", target_type="key",
                            before={"key_alias": "a", "rpm_limit": 1}, after={"key_alias": "b", "rpm_limit": 1},
                            detail={"via": "test"})
    async with WorkerCtx(settings_for(services, o2.url)) as ctx:
        await ship_until(ctx, db, ids)

    mine = {row["event_id"]: row for row in o2.records() if row["event_id"] in {str(i) for i in ids}}
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1, 1, 1]
    row = await db.fetchrow("SELECT * FROM audit_events WHERE id = $1", ids[0])
    sent = mine[str(ids[0])]
    assert sent["_timestamp"] == micros(row["occurred_at"])
    assert (sent["account_id"], sent["action"], sent["target_type"], sent["target_id"], sent["actor_type"],
            sent["actor_id"], sent["actor_role"], sent["outcome"]) == (
        str(account_id), "key.updated", "key", "t-0", "user", row["actor_id"], "account_admin", "success")
    assert json.loads(sent["changes"]) == {"before": {"key_alias": "a"}, "after": {"key_alias": "b"}}
    assert json.loads(sent["detail"]) == {"via": "test"}
    assert datetime.fromisoformat(sent["occurred_at"]) == row["occurred_at"]
    # OpenObserve's paths and HTTP basic auth
    expected = "Basic " + base64.b64encode(f"{O2_USER}:{O2_PASSWORD}".encode()).decode()
    assert {r.path for r in o2.ingest_requests()} == {"/api/default/alchemi_audit/_json"}
    assert all(r.headers["authorization"] == expected for r in o2.state.requests)
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE id = ANY($1::uuid[]) AND "
                             "ship_attempts = 1 AND next_ship_at IS NULL", ids) == 3


async def test_secrets_never_reach_openobserve(services, db, piccolo, o2):
    account_id = await new_account(db)
    secret = "sk-live-" + uuid.uuid4().hex
    ids = await make_events(account_id, 1, action="model.created", target_type="model",
                            after={"litellm_params": {"api_key": CANARY_PROVIDER_KEY, "model": "openai/x"},
                                   "notes": f"pasted {secret} by mistake", "client_secret": "hunter2-hunter2"},
                            detail={"authorization": f"Bearer {MASTER_KEY}"})
    async with WorkerCtx(settings_for(services, o2.url)) as ctx:
        await ship_until(ctx, db, ids)
    assert str(ids[0]) in held_ids(o2)
    wire = b"\n".join(r.raw_body for r in o2.state.requests).decode()
    for value in (CANARY_PROVIDER_KEY, secret, "hunter2-hunter2", MASTER_KEY, O2_PASSWORD):
        assert value not in wire and value not in json.dumps(o2.records())


async def test_wrong_credentials_ship_nothing_until_they_are_right(services, db, piccolo, o2):
    ids = await make_events(await new_account(db), 2)
    async with WorkerCtx(settings_for(services, o2.url, openobserve_password="not-the-password")) as ctx:
        for _ in range(3):
            await ship_audit_events(ctx)
            await asyncio.sleep(0.35)  # past the (test-sized) back-off
        assert await shipped(db, ids) == set() and o2.records() == []
        assert [r.path for r in o2.ingest_requests()], "the batch was offered and refused (401)"
        assert (await _backlog(ctx["redis"]))["backlog_events"] >= 2
    async with WorkerCtx(settings_for(services, o2.url)) as ctx:
        await ship_until(ctx, db, ids)
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1, 1]


async def test_a_200_with_failures_resends_only_the_refused_records(services, db, piccolo, o2):
    ids = await make_events(await new_account(db), 6)
    once, always = str(ids[1]), str(ids[4])
    refused_already: set[str] = set()

    def reject(record: dict) -> str | None:
        if record["event_id"] == always or (record["event_id"] == once and once not in refused_already):
            refused_already.add(record["event_id"])
            return "field type mismatch"
        return None

    o2.state.reject = reject
    async with WorkerCtx(settings_for(services, o2.url)) as ctx:
        await ship_audit_events(ctx)
        # At once: those OpenObserve took are known to be there (it said only how many it refused).
        assert await shipped(db, ids) == set(ids) - {ids[1], ids[4]}
        await ship_until(ctx, db, [i for i in ids if str(i) != always])
        for _ in range(3):  # the one refused for good is tried again, alone, after its back-off
            await asyncio.sleep(0.35)
            await ship_audit_events(ctx)
        sent = [[row["event_id"] for row in r.body if row["event_id"] in set(map(str, ids))]
                for r in o2.ingest_requests()]
        assert set(sent[0]) == set(map(str, ids))
        assert all(set(batch) <= {once, always} for batch in sent[1:]) and len(sent) >= 3
        assert once in sent[1] and always in sent[-1]
        assert await shipped(db, ids) == set(ids) - {ids[4]}
        attempts = await db.fetchval("SELECT ship_attempts FROM audit_events WHERE id = $1", ids[4])
        assert attempts >= 3
        assert o2.search_requests(), "the 200-with-failures was reconciled with _search"

        o2.state.reject = None
        await ship_until(ctx, db, ids)
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1] * 6


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_error_answers_back_off_then_deliver_everything(services, db, piccolo, o2, status):
    ids = await make_events(await new_account(db), 4)
    o2.fail_next(3, status)
    async with WorkerCtx(settings_for(services, o2.url, audit_ship_max_backoff=1.0)) as ctx:
        first = await ship_audit_events(ctx)
        assert await shipped(db, ids) == set()
        assert await ctx["redis"].exists(PAUSE_KEY), first
        paused = await ship_audit_events(ctx)
        assert paused.startswith("skipped (paused)"), paused
        waits = await db.fetch("SELECT next_ship_at > now() AS later FROM audit_events WHERE id = ANY($1::uuid[])",
                               ids)
        assert all(row["later"] for row in waits), "every event of the failed batch waits"
        started = time.monotonic()
        answers = await ship_until(ctx, db, ids)
        # Three failures in a row: pauses of 1 + 1 + 1 s (the test's cap) before the fourth try went through.
        assert time.monotonic() - started >= 1.5 and any("paused" in answer for answer in answers)
    assert len(o2.ingest_requests()) >= 4
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1] * 4


async def test_timeouts_back_off_and_nothing_lands_twice(services, db, piccolo, o2):
    # The first batch times out after OpenObserve stored it; the second times out before it stored anything.
    first = await make_events(await new_account(db), 3)
    async with WorkerCtx(settings_for(services, o2.url, audit_ship_timeout=0.3)) as ctx:
        o2.hang(1.0, store=True)
        await ship_audit_events(ctx)
        assert await shipped(db, first) == set()
        await asyncio.sleep(1.0)  # the late answer has been written
        await ship_until(ctx, db, first)
        assert len(o2.ingest_requests()) == 1, "what OpenObserve held was found by _search, not resent"

        second = await make_events(await new_account(db), 3)
        o2.hang(1.0, store=False)
        await ship_audit_events(ctx)
        assert await shipped(db, second) == set()
        await ship_until(ctx, db, second)
    assert sorted(Counter(held_ids(o2))[str(i)] for i in first + second) == [1] * 6


async def test_an_outage_loses_nothing_and_the_backlog_shows_it(services, db, piccolo, o2):
    account_id = await new_account(db)
    # Events recorded during an hour OpenObserve was away (and one older than OpenObserve's 5-hour ingest
    # window, which it would refuse with its own _timestamp).
    waves = [await make_events(account_id, 3)]
    await db.execute("UPDATE audit_events SET occurred_at = now() - interval '1 hour' WHERE id = ANY($1::uuid[])",
                     waves[0])
    await db.execute("UPDATE audit_events SET occurred_at = now() - interval '6 hours' WHERE id = $1", waves[0][0])
    o2.stop()
    backlog = []
    async with WorkerCtx(settings_for(services, o2.url)) as ctx:
        for _ in range(4):
            await ship_audit_events(ctx)
            backlog.append((await _backlog(ctx["redis"]))["backlog_events"])
            waves.append(await make_events(account_id, 2))
            await asyncio.sleep(0.35)
        everything = [event_id for wave in waves for event_id in wave]
        assert await shipped(db, everything) == set()
        assert backlog == sorted(backlog) and backlog[-1] >= backlog[0] + 6 and backlog[0] >= 3
        metrics = await _backlog(ctx["redis"])
        assert metrics["oldest_pending_seconds"] >= 6 * 3600 - 60

        o2.restart()
        await ship_until(ctx, db, everything)
        await ship_audit_events(ctx)
        metrics = await _backlog(ctx["redis"])
    assert metrics["backlog_events"] == 0 and metrics["oldest_pending_seconds"] == 0
    assert metrics["shipped_events_total"] >= len(everything)
    assert sorted(Counter(held_ids(o2))[str(i)] for i in everything) == [1] * len(everything)
    late = next(row for row in o2.records() if row["event_id"] == str(waves[0][0]))
    assert datetime.fromisoformat(late["occurred_at"]) < datetime.now(timezone.utc) - timedelta(hours=5)


async def test_two_workers_at_once_ship_each_event_once(services, db, piccolo, o2):
    ids = await make_events(await new_account(db), 60)
    settings = settings_for(services, o2.url, audit_ship_batch_size=7)
    async with WorkerCtx(settings) as one, WorkerCtx(settings) as two:
        for _ in range(20):
            await asyncio.gather(ship_audit_events(one), ship_audit_events(two))
            if await shipped(db, ids) == set(ids):
                break
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1] * 60


async def test_without_openobserve_url_nothing_is_sent_and_events_stay_queryable(services, db, piccolo, o2,
                                                                                  admin):
    account_id = await new_account(db)
    ids = await make_events(account_id, 2)
    async with WorkerCtx(settings_for(services, None)) as ctx:
        assert ctx["openobserve"] is None
        assert "off" in await ship_audit_events(ctx)
    await asyncio.sleep(5.5)  # the suite's own worker (no OPENOBSERVE_URL) runs its 5 s cron meanwhile
    assert await shipped(db, ids) == set() and o2.state.requests == []
    page = admin.ok("GET", "/audit/logs", str(account_id))
    assert {entry["event_id"] for entry in page["data"]} >= {str(i) for i in ids}


async def test_a_real_worker_ships_and_publishes_the_backlog(services, db, piccolo, o2, cluster):
    ids = await make_events(await new_account(db), 5)
    # On a Redis database of its own, so its cron ticks are not taken by the suite's worker (no OpenObserve).
    redis_url = other_redis_db(services.redis_url, 11)
    worker = cluster.start_worker({
        "REDIS_URL": redis_url, "OPENOBSERVE_URL": o2.url, "OPENOBSERVE_USER": O2_USER,
        "OPENOBSERVE_PASSWORD": O2_PASSWORD, "ALCHEMI_AUDIT_SHIP_INTERVAL": "1", "ALCHEMI_AUDIT_SHIP_MAX_BACKOFF": "1"})
    try:
        deadline = time.monotonic() + 30
        while await shipped(db, ids) != set(ids):
            assert worker.alive(), worker.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not ship within 30 s"
            await asyncio.sleep(0.25)
        async with WorkerCtx(settings_for(services, None, redis_url=redis_url)) as ctx:
            deadline = time.monotonic() + 10
            while (await _backlog(ctx["redis"])).get("shipped_events_total", 0) < 5:
                assert time.monotonic() < deadline, await _backlog(ctx["redis"])
                await asyncio.sleep(0.25)
    finally:
        worker.stop()
    assert sorted(Counter(held_ids(o2))[str(i)] for i in ids) == [1] * 5
    assert O2_PASSWORD not in worker.log_path.read_text(errors="replace")
