"""What the shipping, retention and /audit/logs tests share: events recorded in-process through
app.audit.record (as the app role, under row-level security), the OpenObserve stand-in, and a worker ctx
built the way workers/settings.startup builds it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from app.audit.actor import Actor
from app.audit.record import record
from app.audit.shipping import FAILURES_KEY, LOCK_KEY, PAUSE_KEY
from app.lib.jobs import create_job_pool
from app.settings import Settings
from app.tenancy.context import acting_in
from tasks.audit import audit_context, ship_audit_events
from tests.conftest import EXTRA_CANARIES
from tests.fakes.openobserve import FakeOpenObserve

O2_USER = "audit-shipper@example.com"
O2_PASSWORD = "o2-pass-" + uuid.uuid4().hex
EXTRA_CANARIES.append(("OpenObserve password", O2_PASSWORD))


@pytest.fixture
async def piccolo(services, cluster, monkeypatch):  # cluster: migrations applied
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    from app.db.piccolo_conf import DB

    await DB.start_connection_pool(dsn=services.app_database_url, min_size=1, max_size=2)
    yield DB
    await DB.close_connection_pool()


@pytest.fixture
def o2():
    with FakeOpenObserve(O2_USER, O2_PASSWORD) as server:
        yield server


def settings_for(services, url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        master_key=None, database_url=services.database_url, redis_url=services.redis_url, secret_key=None,
        data_dir=Path("."), app_database_url=services.app_database_url, openobserve_url=url,
        openobserve_user=O2_USER, openobserve_password=O2_PASSWORD, audit_ship_timeout=0.5,
        audit_ship_max_backoff=0.3)
    values.update(overrides)
    return Settings(**values)


class WorkerCtx:
    """`async with WorkerCtx(settings) as ctx`: the pool (app role), httpx client, arq Redis and audit
    context a worker has; the shipping keys in Redis start clear."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx: dict[str, Any] = {}

    async def __aenter__(self) -> dict[str, Any]:
        ctx = self.ctx
        ctx["db"] = await asyncpg.create_pool(self.settings.app_database_url, min_size=1, max_size=4)
        ctx["http"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False, follow_redirects=False)
        ctx["redis"] = await create_job_pool(self.settings.redis_url)
        await ctx["redis"].delete(PAUSE_KEY, FAILURES_KEY, LOCK_KEY)
        ctx.update(audit_context(self.settings, ctx["http"]))
        return ctx

    async def __aexit__(self, *exc: Any) -> None:
        await self.ctx["redis"].delete(PAUSE_KEY, FAILURES_KEY, LOCK_KEY)
        await self.ctx["http"].aclose()
        await self.ctx["redis"].aclose()
        await self.ctx["db"].close()


async def new_account(db) -> uuid.UUID:
    account_id = uuid.uuid4()
    await db.execute("INSERT INTO accounts (id, name, created_at, updated_at) VALUES ($1, $2, now(), now())",
                     account_id, f"audit-{account_id.hex[:8]}")
    return account_id


async def make_events(account_id: uuid.UUID | None, count: int, *, action: str = "probe.touched",
                      target_type: str = "probe", actor: Actor | None = None, **fields: Any) -> list[uuid.UUID]:
    """`count` events recorded as the app does (needs the `piccolo` fixture), oldest first."""
    who = actor or Actor("user", f"user-{uuid.uuid4().hex[:8]}", "account_admin")
    ids = []
    for number in range(count):
        if account_id is None:
            ids.append(await record(action, target_type=target_type, target_id=f"t-{number}", account_id=None,
                                    actor=who, **fields))
        else:
            with acting_in(account_id):
                ids.append(await record(action, target_type=target_type, target_id=f"t-{number}", actor=who,
                                        **fields))
    return ids


async def shipped(db, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await db.fetch("SELECT id FROM audit_events WHERE id = ANY($1::uuid[]) AND shipped_at IS NOT NULL", ids)
    return {row["id"] for row in rows}


async def ship_until(ctx: dict[str, Any], db, ids: list[uuid.UUID], timeout: float = 15) -> list[str]:
    """Runs the job, like the cron would, until every one of `ids` is marked shipped; the runs' answers."""
    answers = []
    deadline = time.monotonic() + timeout
    while True:
        answers.append(await ship_audit_events(ctx))
        if await shipped(db, ids) == set(ids):
            return answers
        assert time.monotonic() < deadline, f"not shipped after {timeout} s: {answers[-5:]}"
        await asyncio.sleep(0.1)


def other_redis_db(url: str, db: int) -> str:
    """The same Redis, another database: a worker there has a queue (and cron ticks) of its own."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), "db": str(db)})))
    return urlunsplit(parts._replace(path=f"/{db}"))


def held_ids(server: FakeOpenObserve) -> list[str]:
    """Every event id OpenObserve holds, once per copy."""
    return [row["event_id"] for row in server.records()]
